"""The approval store: written with the journal events, idempotent, locked, redacted.

Part of the conformance suite: runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.store.helpers import SECRET, T0, make_run
from tether.errors import UsageError
from tether.events import ApprovalRequested, Event, EventKey
from tether.store import ApprovalRecord, Store, Vote, write_transaction
from tether.store.approvals import approval_id, reopen_run_in, run_position
from tether.types import RunStatus


def request(run_id: str = "run-1", step: int = 1, args: object = None) -> Event:
    payload = ApprovalRequested(
        target="tool", call_id="c1", tool="wipe", arguments={"n": 0, "note": args or ""}
    )
    key = EventKey(run_id=run_id, segment=0, step=step, kind=payload.kind)
    return Event(key=key, payload=payload, ts=T0)


def record(event: Event, **fields: object) -> ApprovalRecord:
    values: dict[str, object] = {
        "id": approval_id(event.id),
        "event_id": event.id,
        "run_id": event.key.run_id,
        "segment": 0,
        "step": event.key.step,
        "index": 0,
        "target": "tool",
        "tool": "wipe",
        "created_at": T0,
        "deadline": T0 + timedelta(hours=1),
        "stated_reason": f"the key is {SECRET}",
    }
    values.update(fields)
    return ApprovalRecord(**values)  # type: ignore[arg-type]


def store_with_row(store: Store, event: Event) -> None:
    def insert(conn: sa.Connection, stored: list[Event]) -> None:
        (journaled,) = stored
        assert isinstance(journaled.payload, ApprovalRequested)
        args = dict(journaled.payload.arguments)
        store.approvals.insert_in(conn, record(event, arguments=args))

    store.journal.store([event], also=insert)


def test_the_row_commits_with_its_event_once(store: Store) -> None:
    make_run(store)
    event = request(args=SECRET)
    store_with_row(store, event)
    store_with_row(store, event)  # a retried pause: nothing doubles
    (got,) = store.approvals.list()
    assert got.id == approval_id(event.id) and got.status == "pending"
    assert got.arguments["n"] == 0 and SECRET not in got.arguments["note"]  # as journaled
    assert got.stated_reason is not None and SECRET not in got.stated_reason
    assert got.deadline == T0 + timedelta(hours=1) and got.deadline.tzinfo is not None
    assert len(store.journal.read("run-1")) == 1


def test_a_failing_row_rolls_the_events_back(store: Store) -> None:
    make_run(store)

    def broken(conn: sa.Connection, stored: list[Event]) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.journal.store([request()], also=broken)
    assert store.journal.read("run-1") == [] and store.approvals.list() == []


def test_find_by_prefix_filters_and_errors(store: Store) -> None:
    make_run(store)
    make_run(store, "run-2", tenant="acme")
    for run_id in ("run-1", "run-2"):
        event = request(run_id)
        store_with_row(store, event)
    one = store.approvals.list(run_id="run-1")[0]
    assert store.approvals.get(one.id[:12]) == one
    with pytest.raises(UsageError, match="no approval 'apr_zz'"):
        store.approvals.get("apr_zz")
    with pytest.raises(UsageError, match="ambiguous"):
        store.approvals.get("apr_")
    with pytest.raises(UsageError, match="not one of"):
        store.approvals.list(status=["waiting"])
    assert store.approvals.list(status=["approved"]) == []
    assert sorted(r.run_id for r in store.approvals.list(tool="wipe")) == ["run-1", "run-2"]


def test_votes_deadlines_and_resumes(store: Store) -> None:
    make_run(store)
    store_with_row(store, request())
    (row,) = store.approvals.list()
    assert store.approvals.due(T0) == [] and store.approvals.due(T0 + timedelta(hours=2)) == [
        row.id
    ]
    vote = Vote(by="alice", at=T0, verdict="approve", arguments={"n": 3, "note": ""})
    with write_transaction(store.engine) as conn:
        locked = store.approvals.locked(conn, row.id)
        decided = replace(locked, status="approved", decisions=(vote,), decided_at=T0)
        store.approvals.save_in(conn, decided)
    got = store.approvals.get(row.id)
    assert got.status == "approved" and got.decisions == (vote,)
    assert got.approved_by() == ["alice"] and store.approvals.unresumed() == [got]
    store.approvals.mark_resumed(row.id, T0)
    assert store.approvals.unresumed() == []


def test_reopen_is_a_compare_and_swap_on_a_paused_run(store: Store) -> None:
    make_run(store, status=RunStatus.RUNNING, executor_id="w1")
    with write_transaction(store.engine) as conn:
        assert not reopen_run_in(conn, "run-1", 0, T0)  # not paused yet
    store.runs.update("run-1", status=RunStatus.PAUSED)
    with write_transaction(store.engine) as conn:
        assert reopen_run_in(conn, "run-1", 0, T0)
        assert not reopen_run_in(conn, "run-1", 0, T0)  # once
        assert run_position(conn, "run-1") == ("queued", 1)
    run = store.runs.get("run-1")
    assert run.status is RunStatus.QUEUED and run.segment == 1 and run.executor_id is None
