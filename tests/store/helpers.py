"""Helpers shared by the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tether.events import Event, EventKey, Payload, ToolCallFinished
from tether.store import RunRecord, Store

SECRET = "hunter2-correct-horse-battery"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_run(store: Store, run_id: str = "run-1", **fields: object) -> RunRecord:
    values: dict[str, object] = {
        "id": run_id,
        "agent": "helper",
        "goal": "say hi",
        "model": "scripted",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return store.runs.create(RunRecord(**values))  # type: ignore[arg-type]


def tool_event(
    run_id: str = "run-1", step: int = 1, index: int = 0, result: object = "ok", segment: int = 0
) -> Event:
    payload: Payload = ToolCallFinished(
        call_id=f"c{step}.{index}", tool="echo", ok=True, result=result
    )
    key = EventKey(run_id=run_id, segment=segment, step=step, kind=payload.kind, index=index)
    return Event(key=key, payload=payload, ts=T0 + timedelta(seconds=step))
