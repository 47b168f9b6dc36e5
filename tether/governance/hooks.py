"""Policy in the run's steps: the decision before a tool runs and before a model is called.

``authorize_tool`` and ``authorize_model`` make the decision, journal it (``policy_decision``)
and act on it:

- allow: the decision event is handed back, to be journaled in the same commit as the step's
  own events (no extra commit per call);
- deny: a tool call gets a structured error result the model can act on (the reasons
  included); a model call fails unless another model of the fallback chain is allowed;
- require approval: an ``approval_requested`` event carries the call, and the segment ends
  with status ``paused`` (``request_approval``: the approval store hooks in there).

In durable mode a decision already journaled for this call stands: a replay after a crash
takes the same path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tether.agent.context import RunContext
from tether.agent.stops import StepRefs, stop_refs
from tether.events import (
    ApprovalRequested,
    EventKey,
    Payload,
    PolicyDecided,
    ToolCallFinished,
    ToolCallStarted,
)
from tether.governance.approved import approved_decision, deny_by_person
from tether.governance.gate import Verdict
from tether.governance.preflight import allowance
from tether.governance.requests import draft_request
from tether.models.base import Model
from tether.models.resilience import FallbackModel
from tether.tools import PreparedCall
from tether.types import ModelRequest, RunStatus

Staged = tuple[tuple[EventKey, Payload], ...]


@dataclass(frozen=True, kw_only=True)
class ToolGate:
    events: Staged = ()  # journal these with the call's own events
    refs: StepRefs | None = None  # set: the call does not run; the step returns these


@dataclass(frozen=True, kw_only=True)
class ModelGate:
    model: Model | None  # the model to call (a fallback chain without the denied models)
    events: Staged = ()
    denied: str | None = None  # set: no model may be called; the step fails with this
    refs: StepRefs | None = None


async def authorize_tool(
    ctx: RunContext, step: int, index: int, prepared: PreparedCall, idempotency_key: str
) -> ToolGate:
    gate = ctx.gate
    if gate is None:
        return ToolGate()
    key = ctx.key(step, "policy_decision", index)
    person = ctx.state.approvals.get((step, index))
    if person is not None:  # a person decided this call: that is the decision
        if person.outcome == "approved":
            return ToolGate(events=((key, approved_decision(ctx, person)),))
        return ToolGate(refs=await deny_by_person(ctx, step, index, prepared, person))
    decided = await _journaled_decision(ctx, key)
    if decided is None:
        tokens_left, tool_calls_left = allowance(ctx)
        verdict = gate.decide_tool(
            prepared.tool.contract,
            prepared.arguments,
            ctx.state.history(),
            tokens_left=tokens_left,
            tool_calls_left=tool_calls_left,
        )
        decided = _payload(ctx, verdict, "tool", prepared.call.id)
    if decided.outcome == "allow":
        return ToolGate(events=((key, decided),))
    if decided.outcome == "require_approval":
        approval = ApprovalRequested(
            target="tool",
            call_id=prepared.call.id,
            tool=prepared.tool.contract.name,
            arguments=prepared.arguments,
            side_effect=prepared.tool.contract.side_effect,
            idempotency_key=idempotency_key,
            reasons=decided.reasons,
            messages=decided.messages,
            policies_version=decided.policies_version,
        )
        refs = await request_approval(ctx, step, index, decided, approval, prepared)
        return ToolGate(refs=refs)
    return ToolGate(refs=await _deny_tool(ctx, step, index, prepared, idempotency_key, decided))


async def request_approval(
    ctx: RunContext,
    step: int,
    index: int,
    decided: PolicyDecided,
    approval: ApprovalRequested,
    prepared: PreparedCall | None = None,
) -> StepRefs:
    """Journal the request and pause the run's segment.

    The ``tether_approvals`` row (``tether approvals``) commits with the journal events;
    once a person decided, the run goes on in its next segment.
    """
    draft = await draft_request(ctx, step, index, decided, approval, prepared)
    await ctx.record_many(
        [
            (ctx.key(step, "policy_decision", index), decided),
            (ctx.key(step, "approval_requested", index), draft.event),
        ],
        also=draft.insert,
    )
    what = approval.tool or approval.model
    why = "; ".join(decided.messages) or ", ".join(decided.reasons)
    return stop_refs(RunStatus.PAUSED, f"waiting for approval of {what!r}: {why}")


async def _deny_tool(
    ctx: RunContext,
    step: int,
    index: int,
    prepared: PreparedCall,
    idempotency_key: str,
    decided: PolicyDecided,
) -> StepRefs:
    call, contract = prepared.call, prepared.tool.contract
    why = "; ".join(decided.messages) or ", ".join(decided.reasons)
    error = {
        "code": "policy_denied",
        "message": f"policy does not allow {contract.name!r} here: {why}; "
        "do not retry it as is: change the request or answer without it",
        "reasons": decided.reasons,
    }
    started = ctx.key(step, "tool_call_started", index)
    finished = ctx.key(step, "tool_call_finished", index)
    await ctx.record_many(
        [
            (ctx.key(step, "policy_decision", index), decided),
            (
                started,
                ToolCallStarted(
                    call_id=call.id,
                    tool=contract.name,
                    arguments=prepared.arguments,
                    idempotency_key=idempotency_key,
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


async def authorize_model(ctx: RunContext, step: int, request: ModelRequest) -> ModelGate:
    """Decide each model of the chain (``ctx.model`` and its fallbacks); call the allowed."""
    if ctx.gate is None:
        return ModelGate(model=ctx.model)
    chain: Sequence[Model] = getattr(ctx.model, "chain", None) or (ctx.model,)
    decided = [await _model_decision(ctx, step, n, m.id, request) for n, m in enumerate(chain)]
    staged: Staged = tuple(
        (ctx.key(step, "policy_decision", -1 - n), d) for n, d in enumerate(decided)
    )
    allowed = [m for m, d in zip(chain, decided, strict=True) if d.outcome == "allow"]
    if allowed:
        return ModelGate(model=_narrowed(ctx.model, chain, allowed), events=staged)
    waiting = [n for n, d in enumerate(decided) if d.outcome == "require_approval"]
    if waiting:
        n = waiting[0]
        approval = ApprovalRequested(
            target="model",
            model=chain[n].id,
            reasons=decided[n].reasons,
            messages=decided[n].messages,
            policies_version=decided[n].policies_version,
        )
        await ctx.record_many([e for i, e in enumerate(staged) if i != n])
        refs = await request_approval(ctx, step, -1 - n, decided[n], approval)
        return ModelGate(model=None, refs=refs)
    why = "; ".join(decided[0].messages) or ", ".join(decided[0].reasons)
    return ModelGate(
        model=None,
        events=staged,
        denied=f"policy denied the call to model {chain[0].id!r}: {why}",
    )


async def _model_decision(
    ctx: RunContext, step: int, n: int, model_id: str, request: ModelRequest
) -> PolicyDecided:
    decided = await _journaled_decision(ctx, ctx.key(step, "policy_decision", -1 - n))
    if decided is not None:
        return decided
    person = ctx.state.approvals.get((step, -1 - n))
    if person is not None:
        return approved_decision(ctx, person)
    gate, s = ctx.gate, ctx.state
    assert gate is not None  # authorize_model returned early without one
    verdict = gate.decide_model(
        model_id,
        request.messages,
        s.messages,
        tokens_left=allowance(ctx)[0],
    )
    return _payload(ctx, verdict, "model", None)


def _narrowed(model: Model, chain: Sequence[Model], allowed: list[Model]) -> Model:
    if len(allowed) == len(chain):
        return model
    if len(allowed) == 1:
        return allowed[0]
    return FallbackModel(allowed)


async def _journaled_decision(ctx: RunContext, key: EventKey) -> PolicyDecided | None:
    stored = await ctx.journaled(key)
    if stored is not None and isinstance(stored.payload, PolicyDecided):
        return stored.payload
    return None


def _payload(ctx: RunContext, verdict: Verdict, target: str, call_id: str | None) -> PolicyDecided:
    """The journaled decision. An allow is kept short (one per step, and every string costs
    a redaction pass): the facts it was decided on are in the call's own events. A deny or an
    approval request also records the context and the policies' reasons in words."""
    d = verdict.decision
    p = ctx.gate.principal if ctx.gate is not None else None
    if d.allowed:
        return PolicyDecided(
            target="tool" if target == "tool" else "model",
            action=d.action,
            principal=d.principal,
            resource=d.resource,
            outcome=d.outcome,
            reasons=list(d.reasons),
            errors=list(d.errors),
            call_id=call_id,
            policies_version=verdict.policies_version,
        )
    return PolicyDecided(
        target="tool" if target == "tool" else "model",
        call_id=call_id,
        tenant=p.tenant if p is not None else "default",
        user=p.user if p is not None else None,
        **verdict.event_fields(),
    )
