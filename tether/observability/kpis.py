"""KPIs and cost roll-ups over many runs, computed from run records and their journals (pure).

``kpis`` (DESIGN §2.9): task success rate (succeeded over finished), containment rate
(finished without a person: no approval asked, not sent to review), approval latency (request
to decision, p50/p95), cost per successful task (all finished runs' cost over the successes),
p95 run latency, tool-call success rate, invalid-argument rate and hallucinated-tool rate
(calls to a tool the agent does not have), each over the tool calls made.

``costs``: money and tokens by agent, model, tool and tenant.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tether.costs import ModelCost
from tether.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    ModelResponded,
    ToolCallFinished,
)
from tether.store import RunRecord
from tether.types import RunStatus

KINDS = ("model_response", "tool_call_finished", "approval_requested", "approval_decided")
_HUMAN = frozenset({RunStatus.NEEDS_REVIEW})


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1], 3)


@dataclass(frozen=True, kw_only=True)
class Kpis:
    runs: int
    finished: int
    task_success_rate: float | None
    containment_rate: float | None
    approval_latency_p50_s: float | None
    approval_latency_p95_s: float | None
    cost_per_successful_task: str | None
    run_latency_p95_s: float | None
    tool_calls: int
    tool_call_success_rate: float | None
    invalid_argument_rate: float | None
    hallucinated_tool_rate: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def kpis(records: Sequence[RunRecord], journals: Mapping[str, Sequence[Event]]) -> Kpis:
    finished = [r for r in records if r.status.is_final and r.status is not RunStatus.PAUSED]
    succeeded = [r for r in finished if r.status is RunStatus.SUCCEEDED]
    asked = {
        rid
        for rid, evs in journals.items()
        if any(isinstance(e.payload, ApprovalRequested) for e in evs)
    }
    contained = [r for r in finished if r.id not in asked and r.status not in _HUMAN]
    waits: list[float] = []
    calls = ok = invalid = unknown = 0
    for evs in journals.values():
        requested = {}
        for e in evs:
            p = e.payload
            if isinstance(p, ApprovalRequested) and e.ts:
                requested[(e.key.step, e.key.index)] = e.ts
            elif isinstance(p, ApprovalDecided) and e.ts:
                start = requested.get((e.key.step, e.key.index))
                if start is not None:
                    waits.append((e.ts - start).total_seconds())
            elif isinstance(p, ToolCallFinished):
                calls += 1
                ok += p.ok
                code = (p.error or {}).get("code")
                invalid += code == "invalid_arguments"
                unknown += code == "unknown_tool"
    latencies = [(r.finished_at - r.created_at).total_seconds() for r in finished if r.finished_at]
    spent = sum((r.cost for r in finished), Decimal(0))
    return Kpis(
        runs=len(records),
        finished=len(finished),
        task_success_rate=_rate(len(succeeded), len(finished)),
        containment_rate=_rate(len(contained), len(finished)),
        approval_latency_p50_s=_quantile(waits, 0.5),
        approval_latency_p95_s=_quantile(waits, 0.95),
        cost_per_successful_task=str(spent / len(succeeded)) if succeeded else None,
        run_latency_p95_s=_quantile(latencies, 0.95),
        tool_calls=calls,
        tool_call_success_rate=_rate(ok, calls),
        invalid_argument_rate=_rate(invalid, calls),
        hallucinated_tool_rate=_rate(unknown, calls),
    )


@dataclass(kw_only=True)
class Line(ModelCost):
    """A row of the cost report: a run's model spend, summed over the runs it counts."""

    runs: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"runs": self.runs, **super().to_json()}


@dataclass(kw_only=True)
class Costs:
    by_agent: dict[str, Line] = field(default_factory=dict)
    by_tenant: dict[str, Line] = field(default_factory=dict)
    by_model: dict[str, Line] = field(default_factory=dict)
    by_tool: dict[str, Line] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def table(lines: dict[str, Line]) -> dict[str, Any]:
            return {k: v.to_json() for k, v in sorted(lines.items())}

        return {
            "agent": table(self.by_agent),
            "tenant": table(self.by_tenant),
            "model": table(self.by_model),
            "tool": table(self.by_tool),
        }


def costs(records: Iterable[RunRecord], journals: Mapping[str, Sequence[Event]]) -> Costs:
    out = Costs()
    for r in records:
        for table, name in ((out.by_agent, r.agent), (out.by_tenant, r.tenant or "-")):
            line = table.setdefault(name, Line())
            line.runs += 1
            line.input_tokens += r.input_tokens
            line.output_tokens += r.output_tokens
            line.cost += r.cost
        seen_models: set[str] = set()
        for e in journals.get(r.id, ()):
            p = e.payload
            if isinstance(p, ModelResponded):
                line = out.by_model.setdefault(p.model, Line())
                line.runs += p.model not in seen_models
                seen_models.add(p.model)
                line.calls += 1
                line.input_tokens += p.input_tokens
                line.output_tokens += p.output_tokens
                line.cost += Decimal(p.cost)
            elif isinstance(p, ToolCallFinished):
                line = out.by_tool.setdefault(p.tool, Line())
                line.calls += 1
                line.cost += Decimal(p.cost)
    return out


def gather(
    store: Any, *, tenant: str | None = None, limit: int = 1000
) -> tuple[list[RunRecord], dict[str, list[Event]]]:
    """The newest ``limit`` production runs (of ``tenant``) and the events the roll-ups read
    (I/O); shadow runs (``tether runs shadow``) are never counted."""
    records = store.runs.list(limit=limit, tenant=tenant, shadows=False)
    return records, {r.id: store.journal.read(r.id, kinds=KINDS) for r in records}
