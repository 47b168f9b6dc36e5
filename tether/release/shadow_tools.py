"""A shadow run's tools: writes recorded instead of executed, reads from the production run.

``ShadowTools`` is the executor of a shadow run (``tether runs shadow``). A call to a tool
that is not declared ``side_effect="read"`` (a write or a high-risk tool; an MCP tool the
server does not mark read-only is a write) never runs: it is answered with the production
run's result for the same call (tool and arguments) or, when the production run made no such
call, with a stub saying it was recorded, not executed. A read is answered with the production
run's recorded result for the same call; a read the production run did not make runs for real
(reads have no side effects). ``ShadowRunner`` journals each answer as ``tool_call_shadowed``
right after the call's own events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tether.agent.context import RunContext
from tether.agent.runner import DirectRunner
from tether.agent.steps import idempotency_key
from tether.agent.stops import StepRefs
from tether.evals.observe import CallRecord
from tether.events import ToolCallShadowed
from tether.governance.gate import Verdict
from tether.tools import PreparedCall, ToolContext, ToolRegistry
from tether.tools.contract import ToolContract
from tether.tools.executor import ToolOutcome
from tether.tools.resilience import ToolRunner
from tether.types import RunStatus, ToolCall

SHADOW_REASON = "tether.shadow.would_ask"


def never_ask(verdict: Verdict, contract: ToolContract) -> Verdict:
    """A shadow run asks no person: a call policy would send for approval goes on (it is
    recorded, not executed, unless it is a read), its decision saying it would have asked."""
    d = verdict.decision
    if d.outcome != "require_approval":
        return verdict
    message = "shadow run: policy would ask a person to approve this call; nothing is executed"
    return replace(
        verdict,
        decision=replace(
            d,
            outcome="allow",
            reasons=(*d.reasons, SHADOW_REASON),
            messages=(*d.messages, message),
        ),
    )


def signature(tool: str, arguments: dict[str, Any]) -> str:
    return tool + ":" + json.dumps(arguments, sort_keys=True, default=str)


def stub_result(tool: str) -> dict[str, Any]:
    return {
        "shadow": True,
        "executed": False,
        "status": f"shadow run: the call to {tool!r} was recorded, not executed",
    }


@dataclass(kw_only=True)
class ShadowTools:
    """The executor of one shadow run (see the module docstring)."""

    production_run: str
    recorded: Sequence[CallRecord]
    inner: ToolRunner  # runs the reads the production run did not make
    answers: dict[str, ToolCallShadowed] = field(default_factory=dict)  # by idempotency key
    _used: set[int] = field(default_factory=set)

    def prepare(self, registry: ToolRegistry, call: ToolCall) -> PreparedCall:
        return self.inner.prepare(registry, call)

    def _match(self, tool: str, arguments: dict[str, Any]) -> CallRecord | None:
        sig = signature(tool, arguments)
        for n, c in enumerate(self.recorded):
            if n not in self._used and c.validated and signature(c.tool, c.arguments) == sig:
                self._used.add(n)
                return c
        return None

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        contract = prepared.tool.contract
        found = self._match(contract.name, prepared.arguments)
        if found is not None:
            answer = "recorded"
            outcome = ToolOutcome(
                ok=found.ok, result=found.result, error=found.error, attempts=1, latency_ms=0.0
            )
        elif contract.side_effect == "read":
            answer = "live"
            outcome = await self.inner.execute(prepared, ctx)
        else:
            answer = "stub"
            outcome = ToolOutcome(
                ok=True, result=stub_result(contract.name), error=None, attempts=1, latency_ms=0.0
            )
        self.answers[ctx.idempotency_key] = ToolCallShadowed(
            call_id=prepared.call.id,
            tool=contract.name,
            arguments=prepared.arguments,
            side_effect=contract.side_effect,
            answer=answer,
            production_run=self.production_run,
        )
        return outcome

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]:
        return [await self.execute(p, c) for p, c in zip(prepared, ctxs, strict=True)]


@dataclass(kw_only=True)
class ShadowRunner:
    """Runs a shadow run's steps in this process and journals how each call was answered."""

    tools: ShadowTools
    inner: DirectRunner = field(default_factory=DirectRunner)

    async def model(self, ctx: RunContext, step: int) -> StepRefs:
        return await self.inner.model(ctx, step)

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs:
        refs = await self.inner.tool(ctx, step, index)
        return (*refs, *await self._journal(ctx, step, [index]))

    async def batch(self, ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs:
        refs = await self.inner.batch(ctx, step, indices)
        return (*refs, *await self._journal(ctx, step, indices))

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs:
        return await self.inner.finish(ctx, status, output, reason)

    async def _journal(self, ctx: RunContext, step: int, indices: Sequence[int]) -> list[str]:
        items = []
        for i in indices:
            answer = self.tools.answers.pop(idempotency_key(ctx.run_id, ctx.segment, step, i), None)
            if answer is not None:
                items.append((ctx.key(step, "tool_call_shadowed", i), answer))
        if not items:
            return []
        return [e.id for e in await ctx.record_many(items)]
