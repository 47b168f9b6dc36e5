"""What a reviewer sees, gathered when a call pauses for approval.

``draft_request`` completes the ``approval_requested`` event with its terms (policy
annotations, ``tether.governance.terms``) and builds the ``tether_approvals`` row: the
arguments as journaled, the agent's stated reason (the model's text that came with the call),
the evidence (the tool results in its context: event ids and short excerpts, redacted as
journaled) and, when the tool can describe it (``describe_change``), what the call would
change. The row is written by ``insert`` in the transaction that journals the request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from tether.agent.context import RunContext
from tether.errors import ConfigError
from tether.events import ApprovalRequested, Event, PolicyDecided, ToolCallFinished
from tether.governance.terms import ApprovalTerms, terms_for
from tether.store.approvals import ApprovalRecord, approval_id
from tether.tools import PreparedCall, ToolContext, to_jsonable
from tether.types import AssistantMessage

EVIDENCE_ITEMS = 8
EXCERPT_CHARS = 300

Insert = Callable[[sa.Connection, list[Event]], None]


@dataclass(frozen=True, kw_only=True)
class Draft:
    event: ApprovalRequested  # the request, with its terms
    insert: Insert  # writes the approval row, given the stored (redacted) events


async def draft_request(
    ctx: RunContext,
    step: int,
    index: int,
    decided: PolicyDecided,
    approval: ApprovalRequested,
    prepared: PreparedCall | None,
) -> Draft:
    key = ctx.key(step, "approval_requested", index)
    terms = _terms(ctx, decided)
    now = ctx.clock.now()
    event = approval.model_copy(
        update={
            "approval_id": approval_id(key.id),
            "approvers": terms.approvers,
            "reviewers": terms.reviewers,
            "deadline": now + timedelta(seconds=terms.timeout_s) if terms.timeout_s else None,
            "escalate_to": terms.escalate_to,
        }
    )
    evidence = await asyncio.to_thread(_evidence, ctx)
    change = await _change(ctx, prepared, approval) if prepared is not None else None
    tenant = ctx.gate.principal.tenant if ctx.gate is not None else None
    base = ApprovalRecord(
        id=approval_id(key.id),
        event_id=key.id,
        run_id=ctx.run_id,
        segment=ctx.segment,
        step=step,
        index=index,
        target=approval.target,
        created_at=now,
        tenant=tenant,
        call_id=approval.call_id,
        tool=approval.tool,
        model=approval.model,
        side_effect=approval.side_effect,
        idempotency_key=approval.idempotency_key,
        input_schema=prepared.tool.contract.input_schema if prepared is not None else None,
        stated_reason=_stated_reason(ctx),
        evidence=evidence,
        change=change,
        policy={"reasons": decided.reasons, "messages": decided.messages},
        approvers=terms.approvers,
        reviewers=terms.reviewers,
        escalate_to=terms.escalate_to,
        timeout_s=terms.timeout_s,
        deadline=event.deadline,
    )

    def insert(conn: sa.Connection, stored: list[Event]) -> None:
        journaled = next(e.payload for e in stored if e.id == key.id)
        assert isinstance(journaled, ApprovalRequested)
        ctx.store.approvals.insert_in(conn, replace(base, arguments=dict(journaled.arguments)))

    return Draft(event=event, insert=insert)


def _terms(ctx: RunContext, decided: PolicyDecided) -> ApprovalTerms:
    return approval_terms(ctx, decided.reasons)


def approval_terms(ctx: RunContext, reasons: Sequence[str]) -> ApprovalTerms:
    """The terms of an approval from the annotations of the deciding policies ``reasons``
    (the settings' defaults where they say nothing)."""
    s = ctx.settings
    defaults = ApprovalTerms(
        reviewers=s.approval_reviewers,
        timeout_s=s.approval_timeout_s,
        escalate_to=s.approval_escalate_to,
    )
    if ctx.gate is None:
        return defaults
    try:
        policies = ctx.gate.source.current().policies
    except ConfigError:  # the request stands; the defaults apply
        return defaults
    notes = [policies[r].get("annotations", {}) for r in reasons if r in policies]
    return terms_for(notes, defaults)


def _stated_reason(ctx: RunContext) -> str | None:
    for message in reversed(ctx.state.messages):
        if isinstance(message, AssistantMessage):
            return (message.content or "").strip() or None
    return None


def _evidence(ctx: RunContext) -> list[dict[str, Any]]:
    """The tool results in the agent's context, newest last (as journaled: redacted)."""
    found = ctx.store.journal.read(ctx.run_id, kinds=["tool_call_finished"])
    out = []
    for event in found[-EVIDENCE_ITEMS:]:
        p = event.payload
        assert isinstance(p, ToolCallFinished)
        body = p.result if p.ok else {"error": p.error}
        text = json.dumps(body, ensure_ascii=False, default=str)
        excerpt = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
        out.append({"event_id": event.id, "tool": p.tool, "ok": p.ok, "excerpt": excerpt})
    return out


async def _change(
    ctx: RunContext, prepared: PreparedCall, approval: ApprovalRequested
) -> dict[str, Any] | None:
    describe = prepared.tool.describe_change
    if describe is None:
        return None
    tool_ctx = ToolContext(
        run_id=ctx.run_id,
        idempotency_key=approval.idempotency_key or "",
        call_id=prepared.call.id,
        workspace=ctx.settings.workspace,
        secrets={k: v.get_secret_value() for k, v in ctx.settings.secrets.items()},
    )
    try:
        described = await asyncio.to_thread(describe, tool_ctx, dict(prepared.arguments))
    except Exception as exc:  # a broken hook must not lose the request
        return {"error": f"describe_change failed: {type(exc).__name__}: {exc}"}
    if not isinstance(described, dict) or not {"before", "after"} <= set(described):
        return {"error": "describe_change must return {'before': ..., 'after': ...}"}
    return {"before": to_jsonable(described["before"]), "after": to_jsonable(described["after"])}
