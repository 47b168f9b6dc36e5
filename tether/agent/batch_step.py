"""A recordable step that makes several calls of one tool through its batch form.

Each call is handled like one ``tool_step``: validated on its own (a rejected call is journaled
as an error and left out of the batch), decided by policy on its own (a denied call is left
out; one that needs approval pauses the run), journaled with its own idempotency key, intent before
(writes) and outcome after, and resumed after a crash like a single write (re-sent when
idempotent, reconciled, or the run stops in ``needs_review``). Only the execution is shared:
the executor makes one batch call for every call still to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tether.agent.context import RunContext
from tether.agent.steps import (
    Journaled,
    call_finished,
    call_intent,
    call_refs,
    idempotency_key,
    reject_call,
    resume_write,
    tool_context,
)
from tether.agent.stops import StepRefs, stopped
from tether.errors import ToolError
from tether.governance.approved import resumed_call
from tether.governance.budget import tool_charge
from tether.governance.guard_hooks import guard_tool
from tether.governance.hooks import authorize_tool
from tether.tools import PreparedCall, ToolContext


@dataclass(frozen=True)
class _Pending:
    index: int
    prepared: PreparedCall
    tool_ctx: ToolContext
    intent: Journaled
    gated: tuple[Journaled, ...] = ()  # the policy decision, journaled with the intent


async def tool_batch_step(ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs:
    """Run calls ``indices`` of the model's last response (all of one tool) as one batch."""
    refs = tuple(ref for i in indices for ref in call_refs(ctx, step, i))
    pending: list[_Pending] = []
    charged: list[str] = []  # budget_charged of the calls that ran, journaled with outcomes
    for index in indices:
        if await ctx.journaled(ctx.key(step, "tool_call_finished", index)) is not None:
            charge = ctx.key(step, "budget_charged", index + 1)
            if await ctx.journaled(charge) is not None:
                charged.append(charge.id)
            continue
        ready = await _prepare(ctx, step, index)
        if isinstance(ready, tuple):
            return ready  # a stop (needs_review) from resuming a write
        if ready is not None:
            pending.append(ready)
    if not pending:
        return (*refs, *charged)
    reads = pending[0].prepared.tool.contract.side_effect == "read"
    if not reads:  # a side effect's intent is committed before the call
        await ctx.record_many([e for p in pending for e in (*p.gated, p.intent)], commit=True)
    outcomes = await ctx.executor.execute_batch(
        [p.prepared for p in pending], [p.tool_ctx for p in pending]
    )
    finished = [
        call_finished(ctx, step, p.index, p.prepared, o)
        for p, o in zip(pending, outcomes, strict=True)
    ]
    intents = [e for p in pending for e in (*p.gated, p.intent)] if reads else []
    charges = [_charge(ctx, step, p, o.attempts) for p, o in zip(pending, outcomes, strict=True)]
    await ctx.record_many([*intents, *finished, *charges])
    return (*refs, *charged, *(key.id for key, _ in charges))


def _charge(ctx: RunContext, step: int, p: _Pending, attempts: int) -> Journaled:
    contract = p.prepared.tool.contract
    spent = contract.cost if attempts > 0 else Decimal(0)  # as in call_finished
    return (ctx.key(step, "budget_charged", p.index + 1), tool_charge(contract.name, spent))


async def _prepare(ctx: RunContext, step: int, index: int) -> _Pending | StepRefs | None:
    """The call ready to run; None when it is settled without running (rejected, or
    reconciled after a crash); stop refs when the run must stop."""
    key = idempotency_key(ctx.run_id, ctx.segment, step, index)
    call, key = resumed_call(ctx.state, step, index, ctx.state.pending_calls[index], key)
    try:
        prepared = ctx.executor.prepare(ctx.registry, call)
    except ToolError as exc:
        await reject_call(ctx, step, index, key, exc)
        return None
    if await guard_tool(ctx, step, index, call, prepared.tool.contract.name) is not None:
        return None  # outside the tool allow list: journaled as an error, settled
    gate = await authorize_tool(ctx, step, index, prepared, key)
    if gate.refs is not None:  # denied (journaled, settled) or waiting for approval (a stop)
        return gate.refs if stopped(gate.refs) is not None else None
    pending = _Pending(
        index,
        prepared,
        tool_context(ctx, prepared, key),
        call_intent(ctx, step, index, prepared, key),
        tuple(gate.events),
    )
    if prepared.tool.contract.side_effect == "read":
        return pending
    if await ctx.journaled(pending.intent[0]) is None:
        return pending
    resumed = await resume_write(ctx, prepared, pending.tool_ctx, step, index)
    if resumed is None:
        return pending
    return resumed if stopped(resumed) is not None else None
