"""Run records: create, update, get, find by prefix, list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.store.helpers import SECRET, T0, make_run
from tether.errors import RunNotFound, UsageError
from tether.store import RunRecord, Store
from tether.types import RunStatus


def test_create_and_get(store: Store) -> None:
    created = make_run(store, cost=Decimal("0.0015"), tenant="acme", parent_run_id=None)
    got = store.runs.get("run-1")
    assert got == created
    assert got.status is RunStatus.QUEUED
    assert got.cost == Decimal("0.0015") and got.cost_micros == 1500
    assert got.created_at == T0 and got.created_at.tzinfo is UTC
    assert got.finished_at is None and got.tenant == "acme"


def test_duplicate_id_is_a_usage_error(store: Store) -> None:
    make_run(store)
    with pytest.raises(UsageError, match="'run-1' already exists"):
        make_run(store)


def test_get_unknown_run(store: Store) -> None:
    with pytest.raises(RunNotFound) as info:
        store.runs.get("nope")
    assert str(info.value) == "no run 'nope'; list runs with `tether runs list`"


def test_status_alone(store: Store) -> None:
    make_run(store)
    assert store.runs.status("run-1") is RunStatus.QUEUED
    store.runs.update("run-1", status="cancelled")
    assert store.runs.status("run-1") is RunStatus.CANCELLED
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        store.runs.status("nope")


def test_update(store: Store) -> None:
    make_run(store)
    done = datetime(2025, 1, 2, 4, 0, tzinfo=timezone(timedelta(hours=2)))
    updated = store.runs.update(
        "run-1",
        status="succeeded",
        output="the answer",
        input_tokens=10,
        output_tokens=5,
        cost=Decimal("1.25"),
        steps=3,
        tool_calls=2,
        finished_at=done,
        segment=1,
    )
    assert updated == store.runs.get("run-1")
    assert updated.status is RunStatus.SUCCEEDED
    assert (updated.output, updated.input_tokens, updated.output_tokens) == ("the answer", 10, 5)
    assert updated.cost == Decimal("1.25") and updated.finished_at == done
    assert updated.updated_at > T0 and updated.created_at == T0
    assert store.runs.update("run-1", cost_micros=7).cost == Decimal("0.000007")


def test_update_rejects_bad_fields_and_values(store: Store) -> None:
    make_run(store)
    with pytest.raises(UsageError, match=r"'colour'.*updatable fields: "):
        store.runs.update("run-1", colour="red")
    with pytest.raises(UsageError, match="'id'"):
        store.runs.update("run-1", id="other")
    with pytest.raises(UsageError, match="status 'done' is not one of"):
        store.runs.update("run-1", status="done")
    with pytest.raises(UsageError, match="timezone-aware"):
        store.runs.update("run-1", finished_at=datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(RunNotFound, match="no run 'ghost'"):
        store.runs.update("ghost", steps=1)


def test_goal_output_reason_are_redacted(store: Store) -> None:
    created = make_run(store, goal=f"log in with {SECRET}")
    assert SECRET not in created.goal and "[REDACTED:secret]" in created.goal
    updated = store.runs.update("run-1", output="mail me at a@b.io", reason=f"pw {SECRET}")
    assert updated.output == "mail me at [REDACTED:email]"
    assert updated.reason == "pw [REDACTED:secret]"


def test_find_by_prefix(store: Store) -> None:
    for run_id in ("abc123", "abd456", "abc"):
        make_run(store, run_id)
    assert store.runs.find("abd").id == "abd456"
    assert store.runs.find("abc").id == "abc"  # an exact id wins over a longer match
    assert store.runs.find("abc1").id == "abc123"
    with pytest.raises(UsageError, match=r"'ab' is ambiguous.*'abc', 'abc123', 'abd456'"):
        store.runs.find("ab")
    with pytest.raises(RunNotFound, match="no run 'zz'"):
        store.runs.find("zz")
    with pytest.raises(UsageError, match="empty"):
        store.runs.find("")
    make_run(store, "a_%x")
    assert store.runs.find("a_%").id == "a_%x"  # wildcards are literal


def test_list_newest_first_with_filters(store: Store) -> None:
    for n in range(5):
        make_run(
            store,
            f"r{n}",
            created_at=T0 + timedelta(minutes=n),
            agent="a" if n % 2 else "b",
            status=RunStatus.SUCCEEDED if n < 3 else RunStatus.FAILED,
        )
    assert [r.id for r in store.runs.list()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.id for r in store.runs.list(limit=2)] == ["r4", "r3"]
    assert [r.id for r in store.runs.list(status=RunStatus.FAILED)] == ["r4", "r3"]
    assert [r.id for r in store.runs.list(status="succeeded", agent="a")] == ["r1"]
    assert store.runs.list(agent="nobody") == []
    with pytest.raises(UsageError, match="status 'finished'"):
        store.runs.list(status="finished")


def test_record_is_frozen_and_keyword_only() -> None:
    record = RunRecord(id="x", agent="a", goal="g", model="m")
    with pytest.raises(AttributeError):
        record.id = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        RunRecord("x", "a", "g", "m")  # type: ignore[call-arg]
    assert record.created_at.tzinfo is UTC
