"""The approvals API: list, show, approve (or edit and approve), deny, batches, timeouts.

Used by ``tether approvals`` and (later) the HTTP service. A paused run holds no worker;
deciding does not execute it either: the decision is recorded under a row lock, and when it
closes the approval, the same transaction journals ``approval_decided`` and reopens the run
(paused → queued, next segment). Then the run is handed on: enqueued for a worker
(``resume="enqueue"``, the default) or left for the caller to execute (``resume="here"``,
then :meth:`Approvals.run_here`). Each stage can be redone, so :meth:`Approvals.sweep` (run
periodically by workers) finishes what a crash interrupted, and applies deadlines: an open
approval past its deadline is escalated once or expires (denied: "approval timed out").

A decision that closes an approval while its run is still recording the pause (a crashed
worker, or a fast reviewer) is kept; the sweep reopens the run once it is paused.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from tether.errors import UsageError
from tether.events import Event, EventKey
from tether.governance import ballot
from tether.store import Store
from tether.store.approvals import (
    OPEN,
    ApprovalRecord,
    Vote,
    reopen_run_in,
    run_position,
)
from tether.store.engine import write_transaction
from tether.types import RunStatus

if TYPE_CHECKING:
    from tether.runtime import RunResult, Runtime

Resume = Literal["enqueue", "here"]


@dataclass(frozen=True, kw_only=True)
class SweepReport:
    escalated: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)  # run ids handed on


class Approvals:
    """Approvals of one store; ``resume`` says how a decided run goes on."""

    def __init__(self, runtime: Runtime, *, resume: Resume = "enqueue") -> None:
        self._rt = runtime
        self._resume = resume

    @property
    def _store(self) -> Store:
        return self._rt.store

    def list(
        self,
        *,
        status: Sequence[str] | None = OPEN,
        tenant: str | None = None,
        tool: str | None = None,
        reviewers: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[ApprovalRecord]:
        """Approvals, oldest first (default: the open ones: pending or escalated)."""
        return self._store.approvals.list(
            status=status,
            tenant=tenant,
            tool=tool,
            reviewers=reviewers,
            run_id=run_id,
            limit=limit,
        )

    def get(self, ref: str) -> ApprovalRecord:
        return self._store.approvals.get(ref)

    def approve(
        self,
        ref: str,
        by: str,
        *,
        edit: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> ApprovalRecord:
        """Approve (``edit``: with new arguments, validated against the tool's schema)."""
        record = self.get(ref)
        arguments = None if edit is None else ballot.checked_edit(record, edit)
        vote = Vote(
            by=_who(by),
            at=self._rt.clock.now(),
            verdict="approve",
            reason=reason,
            arguments=arguments,
        )
        return self._decide(record.id, vote)

    def deny(self, ref: str, by: str, reason: str) -> ApprovalRecord:
        """Deny with a reason; the agent gets it as the call's result."""
        vote = Vote(by=_who(by), at=self._rt.clock.now(), verdict="deny", reason=reason)
        return self._decide(self.get(ref).id, vote)

    def approve_batch(
        self, refs: Sequence[str], by: str, *, reason: str | None = None
    ) -> builtins.list[ApprovalRecord]:
        """Approve several tier-1 (write) calls; all are checked before any is decided."""
        records = [self.get(r) for r in dict.fromkeys(refs)]
        who = _who(by)
        for r in records:
            if r.side_effect == "high_risk":
                raise UsageError(
                    f"approval {r.id!r} is for high-risk tool {r.tool!r}: approve it on its own "
                    f"after `tether approvals show {r.id}` (nothing was approved)"
                )
            ballot.cast(r, Vote(by=who, at=self._rt.clock.now(), verdict="approve"))
        return [self.approve(r.id, who, reason=reason) for r in records]

    def sweep(self) -> SweepReport:
        """Apply deadlines, then hand on every decided run not handed on yet."""
        report = SweepReport()
        now = self._rt.clock.now()
        for ref in self._store.approvals.due(now):
            with write_transaction(self._store.engine) as conn:
                current = self._store.approvals.locked(conn, ref)
                if not current.is_open or current.deadline is None or current.deadline > now:
                    continue
                saved = self._store.approvals.save_in(conn, ballot.expire(current, now))
                if not saved.is_open:
                    self._reopen_in(conn, saved)
            (report.escalated if saved.is_open else report.expired).append(saved.id)
        for record in self._store.approvals.unresumed():
            if self._hand_on(record):
                report.resumed.append(record.run_id)
        return report

    async def run_here(self, run_id: str) -> RunResult:
        """Execute a reopened (queued) run's next segment in this process."""
        rt = self._rt
        record = rt.store.runs.get(run_id)
        if record.status is not RunStatus.QUEUED:
            raise UsageError(f"run {run_id!r} is {record.status.value}, not queued to go on")
        ctx = rt.rebuild(run_id, record.segment)
        if rt.durable:
            from tether.durable import run_segment  # DBOS lives only in tether.durable

            await run_segment(rt, ctx)
        else:
            rt.store.runs.update(run_id, status=RunStatus.RUNNING)
            await rt.drive(ctx)
        return rt.result(ctx)

    def _decide(self, ref: str, vote: Vote) -> ApprovalRecord:
        with write_transaction(self._store.engine) as conn:
            saved = self._store.approvals.save_in(
                conn, ballot.cast(self._store.approvals.locked(conn, ref), vote)
            )
            if not saved.is_open:
                self._reopen_in(conn, saved)
        if not saved.is_open:
            self._hand_on(saved)
        return self.get(saved.id)

    def _reopen_in(self, conn: sa.Connection, record: ApprovalRecord) -> bool:
        """Journal the decision and reopen the run, if it is paused where it asked."""
        if record.target == "compensation":  # `tether runs compensate` journals and acts
            return False
        status, segment = run_position(conn, record.run_id)
        if segment != record.segment or status != RunStatus.PAUSED.value:
            return False
        key = EventKey(
            run_id=record.run_id,
            segment=record.segment,
            step=record.step,
            kind="approval_decided",
            index=record.index,
        )
        now = self._rt.clock.now()
        event = Event(key=key, payload=ballot.decided_event(record), ts=now)
        self._store.journal.store_in(conn, [event])
        return reopen_run_in(conn, record.run_id, record.segment, now)

    def _hand_on(self, record: ApprovalRecord) -> bool:
        """Reopen (if not yet) and enqueue the run's next segment; True once handed on."""
        store, now = self._store, self._rt.clock.now()
        if record.target == "compensation":  # nothing to reopen: the next compensate goes on
            store.approvals.mark_resumed(record.id, now)
            return False
        with write_transaction(store.engine) as conn:
            self._reopen_in(conn, record)
            status, segment = run_position(conn, record.run_id)
        if segment == record.segment:
            if RunStatus(status).is_final and status != RunStatus.PAUSED.value:
                store.approvals.mark_resumed(record.id, now)  # cancelled meanwhile: nothing
            return False  # still recording its pause: a later sweep reopens it
        if self._resume == "enqueue" and status == RunStatus.QUEUED.value:
            from tether.durable import enqueue_run  # DBOS lives only in tether.durable

            enqueue_run(self._rt, record.run_id, segment)
        store.approvals.mark_resumed(record.id, now)
        return True


def _who(by: str) -> str:
    name = (by or "").strip()
    if not name:
        raise UsageError("say who decides: --by NAME (or set TETHER_USER)")
    return name
