"""A person's decision applied when the run goes on (the next segment).

The run's state holds each ``approval_decided`` by the call's position (step, index). For
that call the decision replaces policy: an approved call runs once, with the approved (or
edited) arguments and the idempotency key the reviewer saw; an edited call is still
validated against the tool's schema like any call. A denied or timed-out call gives the agent
a structured ``approval_denied`` result with the reason, so it can go on or stop.
"""

from __future__ import annotations

import json

from tether.agent.context import RunContext
from tether.agent.state import RunState
from tether.agent.stops import StepRefs
from tether.events import ApprovalDecided, PolicyDecided, ToolCallFinished, ToolCallStarted
from tether.tools import PreparedCall
from tether.types import ToolCall

APPROVED = "tether.approved_by_person"
DENIED = "tether.denied_by_person"
TIMED_OUT = "tether.approval_timed_out"


def resumed_call(
    state: RunState, step: int, index: int, call: ToolCall, key: str
) -> tuple[ToolCall, str]:
    """The call to run at (step, index) and its idempotency key: an approved call's
    arguments and key come from the approval."""
    person = state.approvals.get((step, index))
    if person is None or person.outcome != "approved" or person.target != "tool":
        return call, key
    approved = ToolCall(id=call.id, name=call.name, arguments=dict(person.arguments))
    return approved, person.idempotency_key or key


def approved_decision(ctx: RunContext, person: ApprovalDecided) -> PolicyDecided:
    """The journaled decision for a call a person decided (no policy is asked)."""
    tool = person.target == "tool"
    if person.outcome == "approved":
        reasons, messages = [APPROVED], [f"approved by {', '.join(person.by)}"]
    else:
        reasons = [DENIED if person.outcome == "denied" else TIMED_OUT]
        messages = [person.reason or "denied"]
    principal = ctx.gate.principal if ctx.gate is not None else None
    name = person.tool if tool else person.model
    return PolicyDecided(
        target=person.target,
        action="invoke" if tool else "call_model",
        principal=principal.uid if principal is not None else "",
        resource=f"{'Tool' if tool else 'Model'}::{json.dumps(name)}",
        outcome="allow" if person.outcome == "approved" else "deny",
        reasons=reasons,
        messages=messages,
        call_id=person.call_id,
        context={"approval_id": person.approval_id},
    )


async def deny_by_person(
    ctx: RunContext, step: int, index: int, prepared: PreparedCall, person: ApprovalDecided
) -> StepRefs:
    """Journal the refused call and the ``approval_denied`` result the agent sees."""
    call, contract = prepared.call, prepared.tool.contract
    why = person.reason or "no reason given"
    timed_out = person.outcome == "expired"
    error = {
        "code": "approval_denied",
        "message": (
            f"the call to {contract.name!r} was not approved"
            f"{' in time' if timed_out else ''}: {why}; "
            "do not retry it as is: change the request, or answer without it"
        ),
        "reason": why,
        "approval_id": person.approval_id,
    }
    started = ctx.key(step, "tool_call_started", index)
    finished = ctx.key(step, "tool_call_finished", index)
    await ctx.record_many(
        [
            (ctx.key(step, "policy_decision", index), approved_decision(ctx, person)),
            (
                started,
                ToolCallStarted(
                    call_id=call.id,
                    tool=contract.name,
                    arguments=prepared.arguments,
                    idempotency_key=person.idempotency_key or "",
                    side_effect=contract.side_effect,
                    validated=False,
                ),
            ),
            (
                finished,
                ToolCallFinished(call_id=call.id, tool=contract.name, ok=False, error=error),
            ),
        ]
    )
    return (started.id, finished.id)
