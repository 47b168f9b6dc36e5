"""Model and tool call latencies and tool breaker states for ``/metrics``, from the journal.

Every process reads the same journal, so any ``tether serve`` reports the calls of every
worker. ``CallStats`` (one per service) folds in the journal's ``model_response`` and
``tool_call_finished`` events incrementally: each scrape reads only the events after the last
one it saw. On PostgreSQL a sequence number can commit after a higher one, so there it reads
only events older than ``LAG_S`` (SQLite commits one writer at a time, in order).

A tool's breaker state is what its newest finished call says: refused with ``circuit_open``
(open) or answered (closed); a breaker lives in each worker's process and the journal is where
all of them show.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from tether.store.schema import blobs, events, runs

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_S = 5.0
KINDS = ("model_response", "tool_call_finished")
BREAKER_STATES = ("closed", "open")


@dataclass
class Histogram:
    """Counts per bucket of ``BUCKETS_S`` (the last one: above them all) and the sum."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_S) + 1))
    total_s: float = 0.0

    def observe(self, seconds: float) -> None:
        at = next((i for i, b in enumerate(BUCKETS_S) if seconds <= b), len(BUCKETS_S))
        self.counts[at] += 1
        self.total_s += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip((*map(str, BUCKETS_S), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


@dataclass(frozen=True, kw_only=True)
class Call:
    """One finished model or tool call as the journal has it (pure data)."""

    seq: int
    kind: str
    agent: str
    name: str  # the model or the tool
    seconds: float
    cached: bool = False
    breaker_open: bool = False


def call_of(seq: int, kind: str, agent: str, payload: dict[str, Any]) -> Call:
    """The call an event records."""
    error = payload.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return Call(
        seq=seq,
        kind=kind,
        agent=agent,
        name=str(payload.get("model" if kind == "model_response" else "tool", "")),
        seconds=float(payload.get("latency_ms") or 0.0) / 1000,
        cached=bool(payload.get("cached")),
        breaker_open=code == "circuit_open",
    )


@dataclass
class CallStats:
    """Latency histograms by (agent, model) and (agent, tool); breaker state by tool."""

    models: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    tools: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    breakers: dict[str, bool] = field(default_factory=dict)  # tool -> open
    cursor: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fold(self, calls: Sequence[Call]) -> None:
        for call in calls:
            self.cursor = max(self.cursor, call.seq)
            if call.kind == "model_response":
                if not call.cached:
                    self.models.setdefault((call.agent, call.name), Histogram()).observe(
                        call.seconds
                    )
                continue
            self.breakers[call.name] = call.breaker_open
            if not call.cached and not call.breaker_open:
                self.tools.setdefault((call.agent, call.name), Histogram()).observe(call.seconds)

    def refresh(self, engine: sa.Engine) -> None:
        """Fold in the journal's calls since the last refresh."""
        with self._lock:
            self.fold(read_calls(engine, self.cursor))

    def metrics(self) -> Iterator[Metric]:
        model = HistogramMetricFamily(
            "tether_model_call_seconds",
            "model call latency by agent and model",
            labels=["agent", "model"],
        )
        tool = HistogramMetricFamily(
            "tether_tool_call_seconds",
            "tool call latency by agent and tool",
            labels=["agent", "tool"],
        )
        breaker = GaugeMetricFamily(
            "tether_tool_breaker_state",
            "each tool's circuit breaker: 1 for its state as its newest call in the journal shows",
            labels=["tool", "state"],
        )
        with self._lock:
            for (agent, name), h in sorted(self.models.items()):
                model.add_metric([agent, name], h.cumulative(), h.total_s)
            for (agent, name), h in sorted(self.tools.items()):
                tool.add_metric([agent, name], h.cumulative(), h.total_s)
            for name, is_open in sorted(self.breakers.items()):
                current = "open" if is_open else "closed"
                for state in BREAKER_STATES:
                    breaker.add_metric([name, state], 1.0 if state == current else 0.0)
        yield from (model, tool, breaker)


def read_calls(engine: sa.Engine, after_seq: int) -> list[Call]:
    """The journal's finished model and tool calls after ``after_seq``, by seq."""
    joined = events.join(runs, events.c.run_id == runs.c.id).outerjoin(
        blobs, events.c.payload_blob == blobs.c.digest
    )
    stmt = (
        sa.select(events.c.seq, events.c.kind, runs.c.agent, events.c.payload, blobs.c.data)
        .select_from(joined)
        .where(events.c.seq > after_seq, events.c.kind.in_(KINDS))
        .order_by(events.c.seq)
    )
    if engine.dialect.name != "sqlite":
        stmt = stmt.where(events.c.ts < datetime.now(UTC) - timedelta(seconds=LAG_S))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for seq, kind, agent, text, data in rows:
        raw = text if text is not None else bytes(data or b"{}").decode()
        out.append(call_of(int(seq), kind, agent, json.loads(raw)))
    return out
