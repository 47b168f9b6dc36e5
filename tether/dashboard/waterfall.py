"""A run's timeline as waterfall bars (pure): model and tool calls placed to scale.

Built from the same span plan the OpenTelemetry export uses (``observability.spans``), so the
dashboard and a trace viewer show the same durations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tether.events import Event
from tether.observability.spans import plan_run


@dataclass(frozen=True, kw_only=True)
class Bar:
    label: str
    kind: str  # "model" | "tool"
    left: float  # percent of the run's duration
    width: float  # percent, at least a sliver so instant calls stay visible
    ms: float
    error: str | None


def bars(events: Sequence[Event]) -> tuple[float, list[Bar]]:
    """The run's duration (ms) and one bar per model or tool call, in journal order."""
    if not events:
        return 0.0, []
    plan = plan_run(events)
    start, end = plan.root.start_ns, plan.root.end_ns
    total = max(end - start, 1)
    out = []
    for span in plan.children:
        left = (span.start_ns - start) / total * 100
        width = max((span.end_ns - span.start_ns) / total * 100, 0.4)
        out.append(
            Bar(
                label=span.name,
                kind="model" if span.kind == "client" else "tool",
                left=round(min(left, 99.6), 3),
                width=round(min(width, 100 - min(left, 99.6)), 3),
                ms=round((span.end_ns - span.start_ns) / 1e6, 1),
                error=span.error,
            )
        )
    return round(total / 1e6, 1), out
