"""The dashboard's overview page: KPIs, spend by agent, model, tool and day, and latencies
(each run's wall time, model and tool call p50/p95), as server-rendered SVG charts."""

from __future__ import annotations

import statistics

from fastapi import Request
from fastapi.responses import Response

from tether.dashboard import charts
from tether.dashboard.pages import _csrf, _guard, _page, _session, router
from tether.observability import kpis
from tether.service.state import service

RUNS = 200  # the newest runs the page reads


@router.get("/overview")
@_guard
async def overview_page(request: Request) -> Response:
    key, token = _session(request)
    store = service(request).runtime.store
    records, journals = kpis.gather(store, tenant=key.tenant, limit=RUNS)
    spend = kpis.costs(records, journals)
    calls = charts.call_latencies(journals)
    medians = [(name, statistics.median(v)) for name, v in calls.items()]
    return _page(
        request,
        "overview.html",
        title="overview",
        key=key,
        csrf=_csrf(token),
        kpis=kpis.kpis(records, journals).to_json(),
        runs=len(records),
        by_agent=charts.bar_chart((k, float(v.cost)) for k, v in spend.by_agent.items()),
        by_model=charts.bar_chart((k, float(v.cost)) for k, v in spend.by_model.items()),
        by_tool=charts.bar_chart((k, float(v.cost)) for k, v in spend.by_tool.items()),
        by_day=charts.bar_chart(charts.daily(records)),
        tokens=charts.bar_chart(
            ((k, float(v.input_tokens + v.output_tokens)) for k, v in spend.by_model.items()),
            "{:.0f}",
        ),
        run_line=charts.line_chart(charts.run_latencies(records)),
        call_p50=charts.bar_chart(medians, "{:.1f} ms"),
        call_p95=charts.bar_chart(
            ((name, charts.p95(v)) for name, v in calls.items()), "{:.1f} ms"
        ),
        width=charts.WIDTH,
        height=charts.HEIGHT,
    )
