"""The arithmetic of approvals (pure): votes in, a new record out.

- approve: counts once per distinct person; the approval is decided when ``approvers``
  distinct people approved the current arguments (an edit restarts the count with its author);
- deny: one person's deny decides, with the reason;
- a deadline passing escalates once to ``escalate_to`` (with a fresh deadline) or expires
  (denied with "approval timed out").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tether.errors import ToolArgumentError, UsageError
from tether.events import ApprovalDecided
from tether.store.approvals import ApprovalRecord, Vote
from tether.tools.contract import ToolContract
from tether.tools.validation import validate_arguments

TIMED_OUT = "approval timed out"
SYSTEM = "tether"


def cast(record: ApprovalRecord, vote: Vote) -> ApprovalRecord:
    """The record after ``vote``; a UsageError (nothing changed) if the vote cannot count."""
    if not record.is_open:
        raise UsageError(
            f"approval {record.id!r} is already {record.status}; nothing to decide "
            f"(see `tether approvals show {record.id}`)"
        )
    if vote.verdict == "deny":
        if not (vote.reason or "").strip():
            raise UsageError("a deny needs a reason (--reason TEXT): the agent is told it")
        return _closed(record, vote, "denied")
    if vote.verdict != "approve":
        raise UsageError(f"a person may approve or deny, not {vote.verdict!r}")
    if vote.arguments is None and vote.by in record.approved_by():
        raise UsageError(
            f"{vote.by!r} already approved {record.id!r}; it needs {record.approvers} "
            "distinct approvers: ask another person"
        )
    voted = replace(record, decisions=(*record.decisions, vote), updated_at=vote.at)
    if len(voted.approved_by()) < record.approvers:
        return voted
    return replace(
        voted, status="approved", decided_at=vote.at, final_arguments=final_arguments(voted)
    )


def expire(record: ApprovalRecord, now: datetime) -> ApprovalRecord:
    """The record once its deadline passed: escalated (once) or expired."""
    if record.status == "pending" and record.escalate_to and record.timeout_s:
        vote = Vote(
            by=SYSTEM,
            at=now,
            verdict="escalate",
            reason=f"not decided by {record.reviewers!r} in time; escalated to "
            f"{record.escalate_to!r}",
        )
        return replace(
            record,
            status="escalated",
            reviewers=record.escalate_to,
            deadline=now + timedelta(seconds=record.timeout_s),
            decisions=(*record.decisions, vote),
            updated_at=now,
        )
    return _closed(record, Vote(by=SYSTEM, at=now, verdict="expire", reason=TIMED_OUT), "expired")


def final_arguments(record: ApprovalRecord) -> dict[str, Any]:
    """The arguments of the last edit, else those requested."""
    for vote in reversed(record.decisions):
        if vote.arguments is not None:
            return dict(vote.arguments)
    return dict(record.arguments)


def checked_edit(record: ApprovalRecord, edit: object) -> dict[str, Any]:
    """``edit`` validated against the tool's input schema; a UsageError naming the field."""
    if record.target != "tool" or record.input_schema is None or record.tool is None:
        what = "an undo of a write" if record.target == "compensation" else "a model call"
        raise UsageError(
            f"approval {record.id!r} is for {what}; it cannot be edited (approve or deny it)"
        )
    contract = ToolContract(name=record.tool, description="", input_schema=record.input_schema)
    try:
        return validate_arguments(contract, edit)
    except ToolArgumentError as exc:
        errors = exc.detail.get("errors", [])
        where = "; ".join(f"{e['path']}: {e['message']}" for e in errors) or str(exc)
        raise UsageError(
            f"edited arguments for tool {record.tool!r} are invalid ({where}); "
            "fix the --edit JSON to match the tool's input schema (nothing was changed)"
        ) from None


def decided_event(record: ApprovalRecord) -> ApprovalDecided:
    """The ``approval_decided`` event of a closed record."""
    if record.status not in ("approved", "denied", "expired"):
        raise UsageError(f"approval {record.id!r} is {record.status}, not decided")
    last = record.decisions[-1] if record.decisions else None
    approved = record.status == "approved"
    reasons = [v.reason for v in record.decisions if v.verdict == "approve" and v.reason]
    return ApprovalDecided(
        approval_id=record.id,
        step=record.step,
        index=record.index,
        target=record.target,
        call_id=record.call_id,
        tool=record.tool,
        model=record.model,
        outcome=record.status,
        arguments=final_arguments(record) if approved else {},
        edited=approved and any(v.arguments is not None for v in record.decisions),
        idempotency_key=record.idempotency_key,
        reason=("; ".join(reasons) or None) if approved else (last.reason if last else None),
        by=record.approved_by() if approved else ([last.by] if last else []),
        decided_at=record.decided_at,
    )


def _closed(record: ApprovalRecord, vote: Vote, status: str) -> ApprovalRecord:
    return replace(
        record,
        status=status,  # type: ignore[arg-type]
        decisions=(*record.decisions, vote),
        decided_at=vote.at,
        updated_at=vote.at,
    )
