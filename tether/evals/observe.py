"""What a check sees of one run: its outcome and its tool calls, read from the journal (pure).

The same ``Observation`` comes from an eval case's run, from a stored production run (online
evaluation) or from a replay, so every check and the error analysis work on all three.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tether.events import (
    Event,
    ModelResponded,
    RunFinished,
    RunPaused,
    RunStarted,
    ToolCallFinished,
    ToolCallStarted,
)


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """One tool call as journaled: what was asked, whether it ran, what came back."""

    step: int
    index: int
    tool: str
    arguments: dict[str, Any]
    validated: bool = True
    ok: bool = False
    result: Any = None
    error: dict[str, Any] | None = None
    side_effect: str = "read"
    origin: str | None = None

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else str(self.error.get("code", "tool_error"))

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "tool": self.tool,
            "arguments": self.arguments,
            "ok": self.ok,
            "error": self.error_code,
        }


@dataclass(frozen=True, kw_only=True)
class Observation:
    """A run seen from outside: status, answer, usage, its calls and its journal."""

    run_id: str = ""
    goal: str = ""
    status: str = "failed"
    output: str | None = None
    reason: str | None = None
    steps: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: float = 0.0
    calls: tuple[CallRecord, ...] = ()
    events: tuple[Event, ...] = field(default=(), repr=False)
    model_errors: tuple[str, ...] = ()
    # component evals put their own result here (a tool's output, retrieved texts, a verdict)
    value: Any = None

    @property
    def ok_calls(self) -> list[CallRecord]:
        return [c for c in self.calls if c.ok]

    def results_text(self) -> str:
        """Every successful tool result, as text (groundedness)."""
        import json

        return "\n".join(
            json.dumps(c.result, ensure_ascii=False, default=str) for c in self.ok_calls
        )


def observe(events: Sequence[Event], *, latency_ms: float = 0.0) -> Observation:
    """An observation of the run whose journal is ``events``."""
    started = next((e.payload for e in events if isinstance(e.payload, RunStarted)), None)
    finished = next((e.payload for e in events if isinstance(e.payload, RunFinished)), None)
    paused = next((e.payload for e in reversed(events) if isinstance(e.payload, RunPaused)), None)
    responses = [e.payload for e in events if isinstance(e.payload, ModelResponded)]
    tokens = sum(r.input_tokens + r.output_tokens for r in responses)
    if finished is not None:
        status, output, reason = finished.status, finished.output, finished.reason
        cost = Decimal(finished.cost)
    else:
        status = "paused" if paused is not None else "running"
        output, reason = None, paused.reason if paused is not None else None
        cost = sum((Decimal(r.cost) for r in responses), Decimal(0))
    wall = latency_ms or _journal_ms(events)
    return Observation(
        run_id=events[0].key.run_id if events else "",
        goal=started.goal if started is not None else "",
        status=status,
        output=output,
        reason=reason,
        steps=len(responses),
        tool_calls=sum(1 for e in events if isinstance(e.payload, ToolCallFinished)),
        tokens=tokens,
        cost=cost,
        latency_ms=wall,
        calls=tuple(calls_of(events)),
        events=tuple(events),
        model_errors=tuple(r.error for r in responses if r.error),
    )


def calls_of(events: Iterable[Event]) -> list[CallRecord]:
    """The run's tool calls in journal order, each with its outcome."""
    starts: dict[tuple[int, int, int], ToolCallStarted] = {}
    out: list[CallRecord] = []
    for e in events:
        p, k = e.payload, e.key
        where = (k.segment, k.step, k.index)
        if isinstance(p, ToolCallStarted):
            starts[where] = p
        elif isinstance(p, ToolCallFinished):
            s = starts.get(where)
            out.append(
                CallRecord(
                    step=k.step,
                    index=k.index,
                    tool=p.tool,
                    arguments=s.arguments if s is not None else {},
                    validated=s.validated if s is not None else True,
                    ok=p.ok,
                    result=p.result,
                    error=p.error,
                    side_effect=s.side_effect if s is not None else "read",
                    origin=p.origin,
                )
            )
    return out


def _journal_ms(events: Sequence[Event]) -> float:
    stamps = [e.ts for e in events if e.ts is not None]
    if len(stamps) < 2:
        return 0.0
    return (max(stamps) - min(stamps)).total_seconds() * 1000
