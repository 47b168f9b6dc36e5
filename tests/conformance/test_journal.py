"""The journal: idempotent appends, ordering, filters, concurrency and large payloads."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.store.helpers import T0, make_run, tool_event
from tether.errors import StoreError
from tether.events import Event, EventKey, RunFinished, RunStarted, ToolCallFinished
from tether.store import BLOB_THRESHOLD, Store, write_transaction
from tether.store.engine import insert_ignoring_conflicts
from tether.store.schema import events

ROOT = Path(__file__).resolve().parents[2]


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_append_is_idempotent(store: Store) -> None:
    make_run(store)
    event = tool_event()
    first = store.journal.append(event)
    second = store.journal.append(event)
    assert first == second > 0
    assert _count(store, "tether_events") == 1
    assert [e.seq for e in store.journal.read("run-1")] == [first]


def test_read_round_trip(store: Store) -> None:
    make_run(store)
    payload = RunStarted(
        goal="g",
        agent="a",
        agent_version="1",
        model="m",
        tools=["echo"],
        limits={"max_steps": 3},
        tether_version="0.1.0",
    )
    key = EventKey(run_id="run-1", segment=0, step=0, kind="run_started")
    seq = store.journal.append(Event(key=key, payload=payload, ts=T0))
    [event] = store.journal.read("run-1")
    assert event == Event(key=key, payload=payload, seq=seq, ts=T0, v=1)
    assert event.ts is not None and event.ts.tzinfo is UTC
    assert store.journal.get(key.id) == event
    assert store.journal.get("run-1/0/9/run_started/0") is None


def test_missing_ts_is_set_to_now_utc(store: Store) -> None:
    make_run(store)
    event = tool_event()
    store.journal.append(Event(key=event.key, payload=event.payload))
    [stored] = store.journal.read("run-1")
    assert stored.ts is not None and stored.ts.tzinfo is UTC and stored.ts > T0


def test_order_after_seq_and_kinds(store: Store) -> None:
    make_run(store)
    make_run(store, "run-2")
    finished = RunFinished(status="succeeded", output="hi")
    seqs = store.journal.append_many(
        [
            tool_event(step=3),
            tool_event(step=1),
            tool_event("run-2", step=1),
            Event(
                key=EventKey(run_id="run-1", segment=0, step=4, kind="run_finished"),
                payload=finished,
            ),
        ]
    )
    assert seqs == sorted(seqs)
    events = store.journal.read("run-1")
    assert [e.seq for e in events] == [seqs[0], seqs[1], seqs[3]]
    assert [e.key.step for e in events] == [3, 1, 4]  # journal order, not step order
    assert [e.seq for e in store.journal.read("run-1", after_seq=seqs[1])] == [seqs[3]]
    assert [e.kind for e in store.journal.read("run-1", kinds=["run_finished"])] == ["run_finished"]
    assert store.journal.read("run-1", kinds=[]) == []
    assert len(store.journal.read("run-2")) == 1
    assert store.journal.read("nope") == []


def test_append_many_repeats_return_existing_seqs(store: Store) -> None:
    make_run(store)
    batch = [tool_event(step=1), tool_event(step=1, index=1), tool_event(step=2)]
    first = store.journal.append_many(batch)
    assert store.journal.append_many(batch) == first
    assert store.journal.append_many([]) == []
    assert _count(store, "tether_events") == 3


def test_event_for_unknown_run_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no run 'ghost'"):
        store.journal.append(tool_event("ghost"))


def test_concurrent_appenders_no_duplicates(store: Store) -> None:
    make_run(store)
    events = [tool_event(step=s, index=i) for s in range(10) for i in range(3)]
    errors: list[BaseException] = []
    seqs: dict[str, set[int]] = {e.id: set() for e in events}
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        try:
            order = events[n % 3 :: 1] + events[: n % 3]
            for event in order:
                seq = store.journal.append(event)
                with lock:
                    seqs[event.id].add(seq)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(found) == 1 for found in seqs.values())
    stored = store.journal.read("run-1")
    assert len(stored) == len(events) == _count(store, "tether_events")
    assert {e.id for e in stored} == set(seqs)


def test_large_payload_goes_to_a_blob(store: Store) -> None:
    make_run(store)
    big = {"rows": ["x" * 1000 + str(i) for i in range(400)]}
    event = tool_event(result=big)
    seq = store.journal.append(event)
    assert store.journal.append(event) == seq
    twin = Event(key=tool_event(step=2).key, payload=event.payload)
    assert store.journal.append(twin) > seq  # same payload: the blob is shared
    assert _count(store, "tether_blobs") == 1
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT payload, payload_blob FROM tether_events WHERE seq = :s"), {"s": seq}
        ).one()
        size = conn.execute(sa.text("SELECT size FROM tether_blobs")).scalar_one()
    assert row.payload is None and len(row.payload_blob) == 64
    assert size > BLOB_THRESHOLD
    [first, _] = store.journal.read("run-1")
    assert isinstance(first.payload, ToolCallFinished)
    assert first.payload.result == big
    assert store.journal.get(event.id) == first


def test_small_payload_stays_inline(store: Store) -> None:
    make_run(store)
    store.journal.append(tool_event(result="small"))
    assert _count(store, "tether_blobs") == 0


def test_insert_ignoring_conflicts_keeps_the_first_row(store: Store) -> None:
    make_run(store)
    table = events
    row = {
        "event_id": "run-1/0/1/x/0",
        "run_id": "run-1",
        "segment": 0,
        "step": 1,
        "kind": "x",
        "idx": 0,
        "v": 1,
        "ts": T0,
        "payload": '{"first": true}',
    }
    with write_transaction(store.engine) as conn:
        first = conn.execute(
            insert_ignoring_conflicts(conn, table).values(**row).returning(table.c.seq)
        ).scalar_one_or_none()
        again = conn.execute(
            insert_ignoring_conflicts(conn, table)
            .values(**(row | {"payload": "{}"}))
            .returning(table.c.seq)
        ).scalar_one_or_none()
        assert first is not None and again is None  # DO NOTHING: no row, no error
    with store.engine.connect() as conn:
        payloads = conn.execute(sa.select(events.c.payload)).scalars().all()
    assert payloads == ['{"first": true}']


_APPENDER = """
import json, sys
from tests.store.helpers import tool_event
from tether.redact import Redactor
from tether.store import Store
url, me = sys.argv[1], int(sys.argv[2])
shared = [tool_event(step=s, index=i) for s in range(8) for i in range(3)]
own = [tool_event(step=100 + me, index=i) for i in range(5)]
with Store.open(url, Redactor([])) as store:
    seqs = {e.id: store.journal.append(e) for e in (shared[me:] + shared[:me] + own)}
print(json.dumps(seqs))
"""


def test_concurrent_appenders_from_processes(store: Store, db_url: str) -> None:
    make_run(store)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, db_url, str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    merged: dict[str, set[int]] = {}
    for result in results:
        for event_id, seq in result.items():
            merged.setdefault(event_id, set()).add(seq)
    assert all(len(seqs) == 1 for seqs in merged.values())  # one row per id, seen by all
    stored = store.journal.read("run-1")
    assert len(stored) == 24 + 3 * 5 == len(merged) == _count(store, "tether_events")
    assert [e.seq for e in stored] == sorted(e.seq for e in stored)


def test_staged_batches_write_in_the_callers_transaction_once(store: Store) -> None:
    """``Journal.write``: staged batches (a durable step's events, DESIGN §2.2) go in with the
    caller's transaction, in order, a large payload in a blob; a retry changes nothing."""
    make_run(store)
    big = {"rows": ["y" * 1000 + str(i) for i in range(400)]}
    batches = [
        store.journal.batch([tool_event(step=1), tool_event(step=1, index=1, result=big)]),
        store.journal.batch([tool_event(step=2)]),
    ]
    with pytest.raises(RuntimeError, match="rolled back"):
        with write_transaction(store.engine) as conn:
            store.journal.write(conn, batches)
            raise RuntimeError("rolled back")
    assert store.journal.read("run-1") == []
    for _ in range(2):  # the second: a retried transaction
        with write_transaction(store.engine) as conn:
            store.journal.write(conn, batches)
            store.journal.write(conn, [])
    stored = store.journal.read("run-1")
    assert [(e.key.step, e.key.index) for e in stored] == [(1, 0), (1, 1), (2, 0)]
    assert stored[1].payload == batches[0].events[1].payload
    assert (_count(store, "tether_events"), _count(store, "tether_blobs")) == (3, 1)
    with pytest.raises(StoreError, match="no such run in tether_runs"):
        with write_transaction(store.engine) as conn:
            store.journal.write(conn, [store.journal.batch([tool_event("ghost")])])
