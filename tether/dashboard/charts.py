"""The overview page's charts as geometry (pure): bars and a line, drawn as inline SVG by the
template, so the dashboard needs no chart library and no network.

``bar_chart`` scales labelled values to the widest; ``line_chart`` places a series of values
(e.g. each run's latency, oldest first) in a view box; ``daily`` and ``call_latencies`` reduce
run records and journals to those values.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from tether.events import Event, ModelResponded, ToolCallFinished
from tether.store import RunRecord

WIDTH = 600.0  # the view box of a line chart
HEIGHT = 160.0


@dataclass(frozen=True, kw_only=True)
class BarRow:
    label: str
    value: float
    text: str  # the value as shown
    width: float  # percent of the widest


@dataclass(frozen=True, kw_only=True)
class Line:
    dots: tuple[tuple[float, float], ...]  # (x, y) of each value in the view box
    top: str  # the value at the top of the chart, as shown
    count: int

    @property
    def points(self) -> str:
        """SVG polyline points, ``"x,y x,y ..."``."""
        return " ".join(f"{x},{y}" for x, y in self.dots)


def bar_chart(values: Iterable[tuple[str, float]], fmt: str = "{:.4f}") -> list[BarRow]:
    """Rows, largest first, each bar as wide as its share of the largest (a sliver for 0)."""
    rows = sorted(values, key=lambda kv: (-kv[1], kv[0]))
    top = max((v for _, v in rows), default=0.0) or 1.0
    return [
        BarRow(label=k, value=v, text=fmt.format(v), width=round(max(v / top * 100, 0.5), 2))
        for k, v in rows
    ]


def line_chart(values: Sequence[float], fmt: str = "{:.2f}") -> Line:
    """The series across the chart's width, 0 at the bottom and the maximum at the top."""
    top = max(values, default=0.0) or 1.0
    step = WIDTH / max(len(values) - 1, 1)
    dots = tuple(
        (round(i * step, 1), round(HEIGHT - v / top * (HEIGHT - 4), 1))
        for i, v in enumerate(values)
    )
    return Line(dots=dots, top=fmt.format(top), count=len(values))


def daily(records: Iterable[RunRecord]) -> list[tuple[str, float]]:
    """Money spent per day the runs were created, by day."""
    days: dict[str, Decimal] = {}
    for r in records:
        day = r.created_at.strftime("%Y-%m-%d")
        days[day] = days.get(day, Decimal(0)) + r.cost
    return [(d, float(v)) for d, v in sorted(days.items())]


def run_latencies(records: Iterable[RunRecord]) -> list[float]:
    """Each finished run's wall time in seconds, oldest first."""
    done = [r for r in records if r.finished_at is not None]
    done.sort(key=lambda r: r.created_at)
    return [
        (r.finished_at - r.created_at).total_seconds() for r in done if r.finished_at is not None
    ]


def call_latencies(journals: Mapping[str, Sequence[Event]]) -> dict[str, list[float]]:
    """Latencies (ms) of the calls, by ``model NAME`` and ``tool NAME`` (cache hits left out)."""
    out: dict[str, list[float]] = {}
    for events in journals.values():
        for e in events:
            p = e.payload
            if isinstance(p, ModelResponded) and not p.cached:
                out.setdefault(f"model {p.model}", []).append(p.latency_ms)
            elif isinstance(p, ToolCallFinished) and not p.cached:
                out.setdefault(f"tool {p.tool}", []).append(p.latency_ms)
    return out


def p95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20, method="inclusive")[18]
