"""``/metrics``: Prometheus text, gathered from the database at each scrape.

Every figure comes from the stored runs and approvals, so any process (not only the workers)
reports the same numbers and nothing is lost when a worker restarts: runs by status, steps, tool
calls, tokens and cost by agent and model, approvals pending, queue depth, the notification
outbox and alert firings (``tether.service.notify_metrics``); with a
``CallStats`` (``tether.service.calls``), model and tool call latency histograms and each tool's
breaker state.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tether.service import notify_metrics
from tether.service.calls import CallStats
from tether.store.schema import approvals, runs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector(Collector):
    def __init__(self, engine: sa.Engine, calls: CallStats | None = None) -> None:
        self._engine = engine
        self._calls = calls

    def collect(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily("tether_runs", "runs by status", labels=["status"])
        steps = CounterMetricFamily("tether_steps", "model steps of all runs", labels=["agent"])
        calls = CounterMetricFamily("tether_tool_calls", "tool calls of all runs", labels=["agent"])
        tokens = CounterMetricFamily(
            "tether_tokens",
            "tokens by agent, model and direction",
            labels=["agent", "model", "direction"],
        )
        cost = CounterMetricFamily(
            "tether_cost", "money spent, by agent and model", labels=["agent", "model"]
        )
        pending = GaugeMetricFamily("tether_approvals_pending", "approvals waiting for a person")
        queued = GaugeMetricFamily("tether_queue_depth", "runs queued for a worker")
        with self._engine.connect() as conn:
            for status, n in conn.execute(
                sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
            ):
                by_status.add_metric([status], n)
                if status == "queued":
                    queued.add_metric([], n)
            usage = sa.select(
                runs.c.agent,
                runs.c.model,
                sa.func.sum(runs.c.steps),
                sa.func.sum(runs.c.tool_calls),
                sa.func.sum(runs.c.input_tokens),
                sa.func.sum(runs.c.output_tokens),
                sa.func.sum(runs.c.cost_micros),
            ).group_by(runs.c.agent, runs.c.model)
            for agent, model, n_steps, n_calls, tin, tout, micros in conn.execute(usage):
                steps.add_metric([agent], n_steps or 0)
                calls.add_metric([agent], n_calls or 0)
                tokens.add_metric([agent, model, "input"], tin or 0)
                tokens.add_metric([agent, model, "output"], tout or 0)
                cost.add_metric([agent, model], (micros or 0) / 1_000_000)
            open_ = sa.select(sa.func.count()).where(
                approvals.c.status.in_(["pending", "escalated"])
            )
            pending.add_metric([], conn.scalar(open_) or 0)
            notified = list(notify_metrics.collect(conn))
        if not queued.samples:
            queued.add_metric([], 0)
        yield from (by_status, steps, calls, tokens, cost, pending, queued, *notified)
        if self._calls is not None:
            self._calls.refresh(self._engine)
            yield from self._calls.metrics()


def render(engine: sa.Engine, calls: CallStats | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, calls))
    return generate_latest(registry)
