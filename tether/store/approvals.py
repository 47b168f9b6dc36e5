"""Approval requests: one row per ``approval_requested`` event in ``tether_approvals``.

A row is inserted in the same transaction as the journal events that pause the run (its id is
derived from the request event's id, and the insert ignores a duplicate), so a crash while
the pause is recorded loses nothing and duplicates nothing. Decisions change the row under a
row lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write transaction is exclusive),
so two approvers deciding at once cannot lose a vote. Text fields are redacted.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from tether.errors import UsageError
from tether.redact import Redactor
from tether.store.engine import insert_ignoring_conflicts, write_transaction
from tether.store.schema import approvals, runs

ApprovalStatus = Literal["pending", "escalated", "approved", "denied", "expired"]
STATUSES: tuple[ApprovalStatus, ...] = ("pending", "escalated", "approved", "denied", "expired")
OPEN: tuple[ApprovalStatus, ...] = ("pending", "escalated")
Verdict = Literal["approve", "deny", "escalate", "expire"]


def approval_id(event_id: str) -> str:
    """The approval's id, derived from its ``approval_requested`` event id."""
    return "apr_" + hashlib.sha256(event_id.encode()).hexdigest()[:20]


@dataclass(frozen=True, kw_only=True)
class Vote:
    """One decision on an approval: who, when, what, why; ``arguments`` when edited."""

    by: str
    at: datetime
    verdict: Verdict
    reason: str | None = None
    arguments: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "at": self.at.isoformat(),
            "verdict": self.verdict,
            "reason": self.reason,
            "arguments": self.arguments,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vote:
        return cls(
            by=data["by"],
            at=datetime.fromisoformat(data["at"]),
            verdict=data["verdict"],
            reason=data.get("reason"),
            arguments=data.get("arguments"),
        )


@dataclass(frozen=True, kw_only=True)
class ApprovalRecord:
    """An approval request and what became of it."""

    id: str
    event_id: str
    run_id: str
    segment: int
    step: int
    index: int
    # "compensation": the undo of a completed write (``tether runs compensate`` acts on it)
    target: Literal["tool", "model", "compensation"]
    created_at: datetime
    tenant: str | None = None
    call_id: str | None = None
    tool: str | None = None
    model: str | None = None
    side_effect: str | None = None
    idempotency_key: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    input_schema: dict[str, Any] | None = None
    stated_reason: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    change: dict[str, Any] | None = None
    policy: dict[str, Any] = field(default_factory=dict)
    status: ApprovalStatus = "pending"
    approvers: int = 1
    reviewers: str = "reviewers"
    escalate_to: str | None = None
    timeout_s: float | None = None
    deadline: datetime | None = None
    decisions: tuple[Vote, ...] = ()
    final_arguments: dict[str, Any] | None = None
    updated_at: datetime | None = None
    decided_at: datetime | None = None
    resumed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def subject(self) -> str:
        return self.tool or self.model or "?"

    def approved_by(self) -> list[str]:
        """The distinct people whose approvals count: those since the last edit."""
        names: list[str] = []
        for vote in self.decisions:
            if vote.verdict == "approve" and vote.arguments is not None:
                names = [vote.by]  # an edit restarts the count: earlier votes saw other args
            elif vote.verdict == "approve" and vote.by not in names:
                names.append(vote.by)
        return names

    def to_json(self) -> dict[str, Any]:
        def stamp(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "id": self.id,
            "run_id": self.run_id,
            "tenant": self.tenant,
            "status": self.status,
            "target": self.target,
            "tool": self.tool,
            "model": self.model,
            "side_effect": self.side_effect,
            "call_id": self.call_id,
            "position": {"segment": self.segment, "step": self.step, "index": self.index},
            "event_id": self.event_id,
            "arguments": self.arguments,
            "final_arguments": self.final_arguments,
            "stated_reason": self.stated_reason,
            "evidence": self.evidence,
            "change": self.change,
            "policy": self.policy,
            "approvers": self.approvers,
            "approved_by": self.approved_by(),
            "reviewers": self.reviewers,
            "escalate_to": self.escalate_to,
            "deadline": stamp(self.deadline),
            "decisions": [v.to_json() for v in self.decisions],
            "created_at": stamp(self.created_at),
            "decided_at": stamp(self.decided_at),
            "resumed_at": stamp(self.resumed_at),
        }


_JSON = ("arguments", "input_schema", "evidence", "change", "policy", "final_arguments")


class ApprovalStore:
    """Reads and writes ``tether_approvals``."""

    def __init__(self, engine: sa.Engine, redactor: Redactor) -> None:
        self._engine = engine
        self._redactor = redactor

    def insert_in(self, conn: sa.Connection, record: ApprovalRecord) -> None:
        """Insert ``record`` in the caller's transaction unless its id is already stored."""
        conn.execute(insert_ignoring_conflicts(conn, approvals).values(**self._row(record)))

    def get(self, ref: str) -> ApprovalRecord:
        """The approval whose id is ``ref`` or, failing that, the one whose id starts with it."""
        if not ref:
            raise UsageError("an empty approval id matches every approval; give an id")
        with self._engine.connect() as conn:
            return _find(conn, ref)

    def list(
        self,
        *,
        status: Sequence[str] | None = None,
        tenant: str | None = None,
        tool: str | None = None,
        reviewers: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[ApprovalRecord]:
        """Approvals, oldest first, filtered by status, tenant, tool, reviewer group or run."""
        stmt = sa.select(approvals)
        for column, value in (
            (approvals.c.tenant, tenant),
            (approvals.c.tool, tool),
            (approvals.c.reviewers, reviewers),
            (approvals.c.run_id, run_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if status is not None:
            stmt = stmt.where(approvals.c.status.in_([_status(s) for s in status]))
        stmt = stmt.order_by(approvals.c.created_at, approvals.c.id).limit(max(limit, 0))
        with self._engine.connect() as conn:
            return [_from_row(r) for r in conn.execute(stmt).mappings().all()]

    def locked(self, conn: sa.Connection, ref: str) -> ApprovalRecord:
        """The approval, locked for update until the caller's transaction ends."""
        return _find(conn, ref, lock=True)

    def save_in(self, conn: sa.Connection, record: ApprovalRecord) -> ApprovalRecord:
        """Write a decided, escalated or resumed record in the caller's transaction."""
        values = self._row(record)
        mutable = ("status", "reviewers", "deadline", "decisions", "final_arguments")
        changes = {k: values[k] for k in (*mutable, "decided_at", "resumed_at", "updated_at")}
        conn.execute(sa.update(approvals).where(approvals.c.id == record.id).values(**changes))
        return _from_row(values)

    def due(self, now: datetime) -> builtins.list[str]:
        """Ids of open approvals whose deadline has passed."""
        stmt = sa.select(approvals.c.id).where(
            approvals.c.status.in_(OPEN), approvals.c.deadline <= now
        )
        with self._engine.connect() as conn:
            return builtins.list(conn.scalars(stmt.order_by(approvals.c.deadline)))

    def unresumed(self) -> builtins.list[ApprovalRecord]:
        """Decided approvals whose run has not been handed on yet."""
        stmt = sa.select(approvals).where(
            approvals.c.status.not_in(OPEN), approvals.c.resumed_at.is_(None)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(approvals.c.decided_at)).mappings().all()
        return [_from_row(r) for r in rows]

    def mark_resumed(self, approval: str, at: datetime) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                sa.update(approvals)
                .where(approvals.c.id == approval, approvals.c.resumed_at.is_(None))
                .values(resumed_at=at, updated_at=at)
            )

    def _row(self, record: ApprovalRecord) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": record.id,
            "event_id": record.event_id,
            "run_id": record.run_id,
            "tenant": record.tenant,
            "segment": record.segment,
            "step": record.step,
            "idx": record.index,
            "target": record.target,
            "call_id": record.call_id,
            "tool": record.tool,
            "model": record.model,
            "side_effect": record.side_effect,
            "idempotency_key": record.idempotency_key,
            "stated_reason": self._text(record.stated_reason),
            "status": _status(record.status),
            "approvers": record.approvers,
            "reviewers": record.reviewers,
            "escalate_to": record.escalate_to,
            "timeout_s": record.timeout_s,
            "deadline": record.deadline,
            "decisions": self._json([v.to_json() for v in record.decisions]),
            "created_at": record.created_at,
            "updated_at": record.updated_at or record.created_at,
            "decided_at": record.decided_at,
            "resumed_at": record.resumed_at,
        }
        for name in _JSON:
            value = getattr(record, name)
            values[name] = None if value is None else self._json(value)
        return values

    def _json(self, value: Any) -> str:
        return json.dumps(self._redactor.redact(value), ensure_ascii=False, default=str)

    def _text(self, value: str | None) -> str | None:
        return None if value is None else self._redactor.redact_text(value)


def reopen_run_in(conn: sa.Connection, run_id: str, segment: int, now: datetime) -> bool:
    """Compare-and-swap a paused run (ended in ``segment``) to ``queued`` in the next segment,
    with no executor; False if it is not (or no longer) paused in that segment."""
    result = conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id, runs.c.status == "paused", runs.c.segment == segment)
        .values(status="queued", segment=segment + 1, executor_id=None, updated_at=now)
    )
    return bool(result.rowcount)


def run_position(conn: sa.Connection, run_id: str) -> tuple[str, int]:
    """The run's status and segment."""
    row = conn.execute(sa.select(runs.c.status, runs.c.segment).where(runs.c.id == run_id)).one()
    return str(row.status), int(row.segment)


def _find(conn: sa.Connection, ref: str, *, lock: bool = False) -> ApprovalRecord:
    stmt = sa.select(approvals).where(approvals.c.id == ref)
    row = conn.execute(stmt.with_for_update() if lock else stmt).mappings().first()
    if row is None:
        prefix = sa.select(approvals).where(approvals.c.id.startswith(ref, autoescape=True))
        rows = conn.execute(prefix.order_by(approvals.c.id).limit(2)).mappings().all()
        if len(rows) > 1:
            raise UsageError(f"approval id prefix {ref!r} is ambiguous; give more characters")
        if not rows:
            raise UsageError(
                f"no approval {ref!r}; list them with `tether approvals list --status all`"
            )
        row = rows[0]
        if lock:
            return _find(conn, str(row["id"]), lock=True)
    return _from_row(row)


def _status(value: str) -> str:
    if value not in STATUSES:
        raise UsageError(f"approval status {value!r} is not one of: {', '.join(STATUSES)}")
    return value


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _from_row(row: Any) -> ApprovalRecord:
    loaded = {name: None if row[name] is None else json.loads(row[name]) for name in _JSON}
    record = ApprovalRecord(
        id=row["id"],
        event_id=row["event_id"],
        run_id=row["run_id"],
        tenant=row["tenant"],
        segment=row["segment"],
        step=row["step"],
        index=row["idx"],
        target=row["target"],
        call_id=row["call_id"],
        tool=row["tool"],
        model=row["model"],
        side_effect=row["side_effect"],
        idempotency_key=row["idempotency_key"],
        stated_reason=row["stated_reason"],
        status=row["status"],
        approvers=int(row["approvers"]),
        reviewers=row["reviewers"],
        escalate_to=row["escalate_to"],
        timeout_s=row["timeout_s"],
        deadline=_aware(row["deadline"]),
        decisions=tuple(Vote.from_json(v) for v in json.loads(row["decisions"])),
        created_at=_aware(row["created_at"]) or datetime.now(UTC),
        updated_at=_aware(row["updated_at"]),
        decided_at=_aware(row["decided_at"]),
        resumed_at=_aware(row["resumed_at"]),
    )
    return replace(
        record,
        arguments=loaded["arguments"] or {},
        input_schema=loaded["input_schema"],
        evidence=loaded["evidence"] or [],
        change=loaded["change"],
        policy=loaded["policy"] or {},
        final_arguments=loaded["final_arguments"],
    )
