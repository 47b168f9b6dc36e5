"""Replay: re-run an agent version against a recorded run's model and tool results.

The recorded model responses are played back in order (``RecordedModel``) and each tool call
is answered with the recorded outcome of the same call (tool and arguments; ``RecordedTools``),
so the only thing that can differ is tether and the agent version: its tools' contracts and
validation, policies, limits, guardrails, preselection. ``drift`` compares the two runs'
tool calls, status and answer; any difference is behaviour drift. The replay is itself a run
in the journal (``tether runs replay RUN``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tether.agent.spec import Agent, AgentSpec, agent_from_spec
from tether.errors import ModelError, StoreError
from tether.evals.observe import CallRecord, Observation, observe
from tether.events import Event, ModelResponded, RunStarted
from tether.runtime import Runtime
from tether.tools import PreparedCall, ToolContext, ToolExecutor, ToolRegistry
from tether.tools.executor import ToolOutcome
from tether.types import FinishReason, ModelRequest, ModelResponse, ToolCall, Usage


def _signature(tool: str, arguments: dict[str, Any]) -> str:
    return tool + ":" + json.dumps(arguments, sort_keys=True, default=str)


@dataclass(kw_only=True)
class RecordedModel:
    """Plays a run's recorded model responses in order; one more request is a model error."""

    responses: Sequence[ModelResponded]
    model_id: str = "replay"
    _next: int = 0

    @property
    def id(self) -> str:
        return self.model_id

    async def request(self, request: ModelRequest) -> ModelResponse:
        if self._next >= len(self.responses):
            raise ModelError(
                f"replay: the recorded run made {len(self.responses)} model calls; "
                "this version asks for more"
            )
        r = self.responses[self._next]
        self._next += 1
        if r.error is not None:
            raise ModelError(r.error)
        return ModelResponse(
            text=r.text,
            tool_calls=tuple(ToolCall(**c) for c in r.tool_calls),
            usage=Usage(input_tokens=r.input_tokens, output_tokens=r.output_tokens),
            model=r.model,
            model_version=r.model_version,
            cost=Decimal(r.cost),
            finish_reason=_finish(r.finish_reason),
        )


def _finish(reason: str) -> FinishReason:
    return reason if reason in ("stop", "tool_calls", "length", "error") else "stop"  # type: ignore[return-value]


@dataclass(kw_only=True)
class RecordedTools:
    """Answers each call with the recorded outcome of the same call (first unused match);
    a call the recording does not have gets a ``replay_miss`` error. Arguments are validated
    by the current contracts first, as in any run."""

    calls: Sequence[CallRecord]
    inner: ToolExecutor = field(default_factory=ToolExecutor)
    misses: list[str] = field(default_factory=list)
    _used: set[int] = field(default_factory=set)

    def prepare(self, registry: ToolRegistry, call: ToolCall) -> PreparedCall:
        return self.inner.prepare(registry, call)

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        sig = _signature(prepared.tool.contract.name, prepared.arguments)
        for n, c in enumerate(self.calls):
            if n not in self._used and c.validated and _signature(c.tool, c.arguments) == sig:
                self._used.add(n)
                return ToolOutcome(
                    ok=c.ok, result=c.result, error=c.error, attempts=1, latency_ms=0.0
                )
        self.misses.append(sig)
        return ToolOutcome(
            ok=False,
            result=None,
            error={"code": "replay_miss", "message": f"the recorded run has no call {sig}"},
            attempts=0,
            latency_ms=0.0,
        )

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]:
        return [await self.execute(p, c) for p, c in zip(prepared, ctxs, strict=True)]


@dataclass(frozen=True, kw_only=True)
class ReplayReport:
    run_id: str
    replay_id: str
    drift: tuple[str, ...]
    recorded: Observation
    replayed: Observation

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "replay_id": self.replay_id,
            "drift": list(self.drift),
            "recorded": {
                "status": self.recorded.status,
                "output": self.recorded.output,
                "calls": [c.to_json() for c in self.recorded.calls],
            },
            "replayed": {
                "status": self.replayed.status,
                "output": self.replayed.output,
                "calls": [c.to_json() for c in self.replayed.calls],
            },
        }


def drift(recorded: Observation, replayed: Observation) -> list[str]:
    """What the replayed run did differently (pure): calls, status, answer."""
    out = []
    a = [(c.tool, _signature(c.tool, c.arguments), c.ok) for c in recorded.calls]
    b = [(c.tool, _signature(c.tool, c.arguments), c.ok) for c in replayed.calls]
    for n in range(max(len(a), len(b))):
        was = a[n] if n < len(a) else None
        now = b[n] if n < len(b) else None
        if was != now:
            shown = [
                f"{x[1]} ({'ok' if x[2] else 'error'})" if x else "nothing" for x in (was, now)
            ]
            out.append(f"call {n + 1}: recorded {shown[0]}, replayed {shown[1]}")
    if recorded.status != replayed.status:
        out.append(f"status: recorded {recorded.status!r}, replayed {replayed.status!r}")
    if (recorded.output or "") != (replayed.output or ""):
        out.append(f"answer: recorded {recorded.output!r}, replayed {replayed.output!r}")
    return out


def recorded_agent(run_id: str, events: Sequence[Event]) -> tuple[RunStarted, Agent]:
    started = next((e.payload for e in events if isinstance(e.payload, RunStarted)), None)
    if started is None:
        raise StoreError(f"run {run_id!r} has no run_started event; it cannot be replayed")
    spec = AgentSpec.model_validate(started.agent_spec)
    return started, agent_from_spec(spec, source=f"run {run_id}")


async def replay_run(rt: Runtime, run_id: str, *, agent: Agent | None = None) -> ReplayReport:
    """Replay stored run ``run_id`` (id or prefix) with ``agent`` (default: its own spec)."""
    record = await asyncio.to_thread(rt.store.runs.find, run_id)
    events = await asyncio.to_thread(rt.store.journal.read, record.id)
    started, own = recorded_agent(record.id, events)
    recorded = observe(events)
    responses = [e.payload for e in events if isinstance(e.payload, ModelResponded)]
    model = RecordedModel(responses=responses)
    tools = RecordedTools(calls=recorded.calls)
    replayer = Runtime(settings=rt.settings, models={model.id: model}, executor=tools)
    try:
        ctx = await replayer.start(
            agent or own, started.goal, model=model.id, tenant=started.tenant, user=started.user
        )
        await replayer.drive(ctx)
        replayed = observe(await asyncio.to_thread(replayer.store.journal.read, ctx.run_id))
    finally:
        replayer.close()
    return ReplayReport(
        run_id=record.id,
        replay_id=ctx.run_id,
        drift=tuple(drift(recorded, replayed)),
        recorded=recorded,
        replayed=replayed,
    )
