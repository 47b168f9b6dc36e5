"""Compensations through policy and the approval ladder (DESIGN §2.2).

Undoing a completed write is a tool call like any other: before ``tether runs compensate``
runs a tool's ``compensate`` action, ``rule`` asks the run's policy gate about action
``invoke`` on the write's tool with the write's arguments and the context fact
``compensation: true``. The call has no model context (an operator asks for it, not the
model), so nothing the model read taints it. The decision is journaled once per write
(``compensation_decision``, at the write's own position), and stands when the command runs
again:

- allow: the undo runs;
- deny: the undo does not run; the caller journals and reports it as not undone, with the
  policies' reasons;
- require approval: a ``compensation_requested`` event and a ``tether_approvals`` row
  (target ``compensation``) commit together, and the command stops there (older writes wait
  too: undos go newest first). Once a person decided (``tether approvals approve|deny``), the
  next ``tether runs compensate`` journals the decision (``compensation_approval``) and runs
  the undo or reports it refused.

A policy can tell undos apart: ``context has compensation && context.compensation``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

import sqlalchemy as sa

from tether.agent.context import RunContext
from tether.events import (
    CompensationApproval,
    CompensationDecided,
    CompensationRequested,
    Event,
    EventKey,
    Payload,
    ToolCallStarted,
)
from tether.governance.preflight import allowance
from tether.governance.requests import EXCERPT_CHARS, approval_terms
from tether.store.approvals import ApprovalRecord, approval_id
from tether.tools.contract import ToolContract

Outcome = Literal["go", "refused", "waiting"]


@dataclass(frozen=True, kw_only=True)
class Ruling:
    """What to do with one undo: run it, refuse it (``detail`` says why), or wait for the
    approval ``approval_id``."""

    outcome: Outcome
    detail: str = ""
    approval_id: str | None = None


GO = Ruling(outcome="go")


def at(write: EventKey, kind: str) -> EventKey:
    """The key of a compensation event of the write at ``write`` (its own position)."""
    return EventKey(
        run_id=write.run_id,
        segment=write.segment,
        step=write.step,
        kind=kind,
        index=write.index,
    )


async def rule(
    ctx: RunContext,
    write: Event,
    intent: ToolCallStarted,
    contract: ToolContract,
    *,
    by: str | None,
) -> Ruling:
    """Policy's (and, where it asks, a person's) word on undoing ``write``; journaled."""
    if ctx.gate is None:  # a run without a policy gate: its calls ran undecided too
        return GO
    decided = await _stored(ctx, at(write.key, "compensation_decision"))
    if decided is None:
        decided = _decide(ctx, contract, intent, by)
        if decided.outcome == "require_approval":
            return await _request(ctx, write, intent, decided)
        await ctx.record(at(write.key, "compensation_decision"), decided)
    assert isinstance(decided, CompensationDecided)
    if decided.outcome == "allow":
        return GO
    if decided.outcome == "deny":
        return Ruling(outcome="refused", detail=f"policy denied the undo: {_why(decided)}")
    return await _decided_by_person(ctx, write, intent)


def _decide(
    ctx: RunContext, contract: ToolContract, intent: ToolCallStarted, by: str | None
) -> CompensationDecided:
    gate = ctx.gate
    assert gate is not None
    tokens_left, tool_calls_left = allowance(ctx)
    verdict = gate.decide_tool(
        contract,
        intent.arguments,
        (),
        tokens_left=tokens_left,
        tool_calls_left=tool_calls_left,
        extra={"compensation": True},
    )
    return CompensationDecided(
        call_id=intent.call_id, tool=intent.tool, by=by, **verdict.event_fields()
    )


async def _request(
    ctx: RunContext, write: Event, intent: ToolCallStarted, decided: CompensationDecided
) -> Ruling:
    """Journal the decision and the request with its approval row (one commit)."""
    key = at(write.key, "compensation_requested")
    ident = approval_id(key.id)
    terms = approval_terms(ctx, decided.reasons)
    now = ctx.clock.now()
    deadline = now + timedelta(seconds=terms.timeout_s) if terms.timeout_s else None
    request = CompensationRequested(
        approval_id=ident,
        call_id=intent.call_id,
        tool=intent.tool,
        arguments=intent.arguments,
        side_effect=intent.side_effect,
        reasons=decided.reasons,
        messages=decided.messages,
        approvers=terms.approvers,
        reviewers=terms.reviewers,
        deadline=deadline,
    )
    who = f" by {decided.by}" if decided.by else ""
    record = ApprovalRecord(
        id=ident,
        event_id=key.id,
        run_id=ctx.run_id,
        segment=write.key.segment,
        step=write.key.step,
        index=write.key.index,
        target="compensation",
        created_at=now,
        tenant=ctx.gate.principal.tenant if ctx.gate is not None else None,
        call_id=intent.call_id,
        tool=intent.tool,
        side_effect=intent.side_effect,
        idempotency_key=intent.idempotency_key,
        stated_reason=(
            f"undo of the completed {intent.tool!r} write of step {write.key.step + 1} "
            f"(`tether runs compensate`{who})"
        ),
        evidence=[_evidence(write)],
        policy={"reasons": decided.reasons, "messages": decided.messages},
        approvers=terms.approvers,
        reviewers=terms.reviewers,
        escalate_to=terms.escalate_to,
        timeout_s=terms.timeout_s,
        deadline=deadline,
    )

    def insert(conn: sa.Connection, stored: list[Event]) -> None:
        journaled = next(e.payload for e in stored if e.id == key.id)
        assert isinstance(journaled, CompensationRequested)
        ctx.store.approvals.insert_in(conn, replace(record, arguments=dict(journaled.arguments)))

    items: Sequence[tuple[EventKey, Payload]] = [
        (at(write.key, "compensation_decision"), decided),
        (key, request),
    ]
    await ctx.record_many(items, also=insert)
    return _waiting(ident, decided)


async def _decided_by_person(ctx: RunContext, write: Event, intent: ToolCallStarted) -> Ruling:
    ident = approval_id(at(write.key, "compensation_requested").id)
    approval = await asyncio.to_thread(ctx.store.approvals.get, ident)
    if approval.is_open:
        why = "; ".join(approval.policy.get("messages", [])) or ", ".join(
            approval.policy.get("reasons", [])
        )
        return Ruling(
            outcome="waiting",
            detail=f"waiting for approval {ident} ({approval.status}): {why}",
            approval_id=ident,
        )
    approved = approval.status == "approved"
    last = approval.decisions[-1] if approval.decisions else None
    reason = None if approved or last is None else last.reason
    outcome: Literal["approved", "denied", "expired"] = (
        "approved" if approved else "expired" if approval.status == "expired" else "denied"
    )
    await ctx.record(
        at(write.key, "compensation_approval"),
        CompensationApproval(
            approval_id=ident,
            call_id=intent.call_id,
            tool=intent.tool,
            outcome=outcome,
            reason=reason,
            by=approval.approved_by() if approved else ([last.by] if last else []),
            decided_at=approval.decided_at,
        ),
    )
    if approved:
        return GO
    return Ruling(
        outcome="refused",
        detail=f"the undo was not approved ({outcome}): {reason or 'no reason given'}",
        approval_id=ident,
    )


async def _stored(ctx: RunContext, key: EventKey) -> Payload | None:
    event = await asyncio.to_thread(ctx.store.journal.get, key.id)
    return None if event is None else event.payload


def _waiting(ident: str, decided: CompensationDecided) -> Ruling:
    return Ruling(
        outcome="waiting",
        detail=f"waiting for approval {ident}: {_why(decided)}",
        approval_id=ident,
    )


def _why(decided: CompensationDecided) -> str:
    return "; ".join(decided.messages) or ", ".join(decided.reasons) or "no reason given"


def _evidence(write: Event) -> dict[str, Any]:
    payload = write.payload
    body = getattr(payload, "result", None)
    text = json.dumps(body, ensure_ascii=False, default=str)
    excerpt = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
    tool = getattr(payload, "tool", "")
    return {"event_id": write.id, "tool": tool, "ok": True, "excerpt": excerpt}
