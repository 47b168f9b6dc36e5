"""Planted secrets never reach the database file, its WAL, or read-back events."""

from __future__ import annotations

from pathlib import Path

from tests.store.helpers import SECRET, make_run
from tether.events import (
    Event,
    EventKey,
    ModelRequested,
    Payload,
    ToolCallFinished,
    ToolCallStarted,
)
from tether.redact import Redactor
from tether.store import Store

API_KEY = "sk-live-ABCDEF1234567890abcd"


def _raw_bytes(db_path: Path) -> bytes:
    parts = [db_path, db_path.with_name(db_path.name + "-wal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def _plant(store: Store) -> list[Event]:
    make_run(store, goal=f"use {SECRET} to log in")
    store.runs.update("run-1", output=f"done with {API_KEY}", reason=SECRET)
    finished = ToolCallFinished(
        call_id="c1", tool="fetch", ok=True, result={"note": f"key {API_KEY}"}
    )
    started = ToolCallStarted(
        call_id="c1",
        tool="login",
        idempotency_key="k1",
        arguments={"user": "bob", "password": SECRET, "memo": SECRET},
    )
    request = ModelRequested(
        model="m",
        tools=[],
        settings={},
        messages=[{"role": "user", "content": f"my key is {SECRET}"}],
    )
    big = ToolCallFinished(
        call_id="c2", tool="dump", ok=True, result=["x" * 300_000, f"tail {SECRET} {API_KEY}"]
    )
    payloads: tuple[Payload, ...] = (finished, started, request, big)
    events = [
        Event(key=EventKey(run_id="run-1", segment=0, step=1, kind=p.kind, index=i), payload=p)
        for i, p in enumerate(payloads)
    ]
    store.journal.append_many(events)
    return events


def test_secrets_not_in_db_files_or_events(db_path: Path, redactor: Redactor) -> None:
    store = Store.open(f"sqlite:///{db_path}", redactor)
    try:
        _plant(store)
        assert Path(str(db_path) + "-wal").exists()  # WAL mode: writes land there first
        raw = _raw_bytes(db_path)
        assert SECRET.encode() not in raw and API_KEY.encode() not in raw
        assert b"[REDACTED:api_key]" in raw and b"[REDACTED:secret]" in raw
        events = store.journal.read("run-1")
        text = repr([e.to_json() for e in events]) + repr(store.runs.get("run-1"))
        assert len(events) == 4
        assert SECRET not in text and API_KEY not in text
        assert isinstance(events[0].payload, ToolCallFinished)
        assert events[0].payload.result == {"note": "key [REDACTED:api_key]"}
        assert isinstance(events[1].payload, ToolCallStarted)
        assert events[1].payload.arguments == {
            "user": "bob",
            "password": "[REDACTED:secret]",
            "memo": "[REDACTED:secret]",
        }
    finally:
        store.close()
    raw = _raw_bytes(db_path)  # after the checkpoint on close
    assert SECRET.encode() not in raw and API_KEY.encode() not in raw


def test_redaction_disabled_stores_clear_text(db_path: Path) -> None:
    with Store.open(f"sqlite:///{db_path}", Redactor([SECRET], enabled=False)) as store:
        _plant(store)
        assert SECRET.encode() in _raw_bytes(db_path)  # the scan above can fail
