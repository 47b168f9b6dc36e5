"""What a run cost, per model and per tool, computed from its journal (pure).

Model calls are charged their token cost (``model_response.cost``, from the price table);
tool calls their contract's declared per-call ``cost`` (``tool_call_finished.cost``; a call
that never ran, such as a rejected or cached one, costs nothing). The run's total, stored on
the run record, is the sum of both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tether.events import Event, ModelResponded, ToolCallFinished


@dataclass(kw_only=True)
class ModelCost:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": str(self.cost),
        }


@dataclass(kw_only=True)
class ToolCost:
    calls: int = 0
    cost: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "cost": str(self.cost)}


@dataclass(kw_only=True)
class CostReport:
    models: dict[str, ModelCost] = field(default_factory=dict)
    tools: dict[str, ToolCost] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((m.cost for m in self.models.values()), Decimal(0)) + sum(
            (t.cost for t in self.tools.values()), Decimal(0)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "total": str(self.total),
            "models": {name: m.to_json() for name, m in sorted(self.models.items())},
            "tools": {name: t.to_json() for name, t in sorted(self.tools.items())},
        }


def cost_report(events: Iterable[Event]) -> CostReport:
    """Costs by model (the model that answered) and by tool, from a run's events."""
    report = CostReport()
    for event in events:
        p = event.payload
        if isinstance(p, ModelResponded):
            m = report.models.setdefault(p.model, ModelCost())
            m.calls += 1
            m.input_tokens += p.input_tokens
            m.output_tokens += p.output_tokens
            m.cost += Decimal(p.cost)
        elif isinstance(p, ToolCallFinished):
            t = report.tools.setdefault(p.tool, ToolCost())
            t.calls += 1
            t.cost += Decimal(p.cost)
    return report
