"""Migrations on each backend: up from empty, idempotent, ordered, atomic, concurrent, additive."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.store.helpers import make_run, tool_event
from tether.errors import StoreError
from tether.redact import Redactor
from tether.store import MIGRATIONS, Store, current_version, make_engine, migrate

ROOT = Path(__file__).resolve().parents[2]
LAST = MIGRATIONS[-1][0]
TABLES = {
    "tether_schema_version",
    "tether_runs",
    "tether_events",
    "tether_blobs",
    "tether_executors",
    "tether_kill_switches",
    "tether_operator_messages",
    "tether_approvals",
    "tether_memory_chunks",
    "tether_memory_generations",
    "tether_memory_episodes",
    "tether_memory_profile",
    "tether_session_turns",
    "tether_api_keys",
    "tether_trigger_deliveries",
    "tether_ratings",
    "tether_feature_flags",
    "tether_agent_versions",
    "tether_agent_channels",
    "tether_agent_releases",
    "tether_canary_runs",
    "tether_notifications",
    "tether_alerts",
    "tether_alert_transitions",
}


def test_migrate_from_empty_then_noop(engine: sa.Engine) -> None:
    assert current_version(engine) == 0
    assert migrate(engine) == LAST == 22
    assert TABLES <= set(sa.inspect(engine).get_table_names())
    assert migrate(engine) == LAST
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT version, name FROM tether_schema_version ORDER BY version")
        ).all()
    assert [tuple(r) for r in rows] == [(n, name) for n, name, _ in MIGRATIONS]


def test_events_table_shape(engine: sa.Engine) -> None:
    migrate(engine)
    inspector = sa.inspect(engine)
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("tether_events")}
    assert ("run_id", "segment", "step", "kind", "idx") in uniques
    fks = inspector.get_foreign_keys("tether_events")
    assert {fk["referred_table"] for fk in fks} == {"tether_runs", "tether_blobs"}
    indexed = {c for ix in inspector.get_indexes("tether_runs") for c in ix["column_names"]}
    assert "status" in indexed


def test_later_migrations_apply_in_order_once(engine: sa.Engine) -> None:
    calls: list[int] = []
    nxt = LAST + 1

    def add_note(conn: sa.Connection) -> None:
        calls.append(nxt)
        conn.exec_driver_sql("ALTER TABLE tether_runs ADD COLUMN note TEXT")

    migrate(engine)
    steps = (*MIGRATIONS, (nxt, "add note", add_note))
    assert migrate(engine, steps) == nxt
    assert migrate(engine, steps) == nxt
    assert calls == [nxt]
    assert "note" in {c["name"] for c in sa.inspect(engine).get_columns("tether_runs")}


def test_failed_migration_rolls_back(engine: sa.Engine) -> None:
    def broken(conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE tether_half (x INTEGER)")
        conn.exec_driver_sql("SELECT * FROM no_such_table")

    with pytest.raises(StoreError, match=f"migration {LAST + 1}"):
        migrate(engine, (*MIGRATIONS, (LAST + 1, "broken", broken)))
    assert current_version(engine) == LAST
    assert "tether_half" not in sa.inspect(engine).get_table_names()


def test_concurrent_migrate_from_threads(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(6)]
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def worker(engine: sa.Engine) -> None:
        barrier.wait()
        try:
            results.append(migrate(engine))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(e,)) for e in engines]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for e in engines:
            e.dispose()
    assert errors == []
    assert results == [LAST] * len(engines)


def test_concurrent_migrate_from_processes(db_url: str) -> None:
    code = (
        "import sys; from tether.store import make_engine, migrate;"
        "print(migrate(make_engine(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert outs == [str(LAST)] * 3


def test_upgrade_keeps_data_written_by_an_older_schema(db_url: str, engine: sa.Engine) -> None:
    """Up from version 2 with runs and events in it: nothing is lost, new columns default."""
    older = tuple(m for m in MIGRATIONS if m[0] <= 2)
    migrate(engine, older)
    with engine.begin() as conn:
        if "tether_version" in {c["name"] for c in sa.inspect(conn).get_columns("tether_runs")}:
            conn.exec_driver_sql("ALTER TABLE tether_runs DROP COLUMN tether_version")
        conn.exec_driver_sql(
            "INSERT INTO tether_runs (id, agent, agent_version, goal, model, status, created_at,"
            " updated_at) VALUES ('old', 'a', 'v1', 'g', 'm', 'running', "
            "'2025-01-01 00:00:00', '2025-01-01 00:00:00')"
        )
    assert migrate(engine) == LAST
    with Store.open(db_url, Redactor([])) as store:
        old = store.runs.get("old")
        assert (old.agent_version, old.tether_version, old.status.value) == ("v1", "", "running")
        store.journal.append(tool_event("old"))
        assert len(store.journal.read("old")) == 1
        make_run(store, "new", tether_version="9.9")
        assert store.runs.get("new").tether_version == "9.9"


def test_a_migration_waiting_for_a_lock_gives_up_instead_of_blocking_writers(
    pg_url: str,
) -> None:
    """PostgreSQL: a long transaction reads the journal; DDL on it gives up after
    ``lock_timeout`` (retried, then reported) instead of queueing every writer behind it."""
    with Store.open(pg_url, Redactor([])) as store:
        make_run(store)
        blocker = store.engine.connect()
        blocker.begin()
        blocker.exec_driver_sql("SELECT count(*) FROM tether_events").scalar()
        try:
            with pytest.raises(StoreError, match=f"migration {LAST + 1}.*lock timeout"):
                migrate(
                    store.engine,
                    (*MIGRATIONS, (LAST + 1, "add col", _add_column)),
                    lock_timeout_s=0.2,
                )
            store.journal.append(tool_event())  # a writer is not stuck behind the DDL
        finally:
            blocker.rollback()
            blocker.close()
        assert len(store.journal.read("run-1")) == 1
        assert current_version(store.engine) == LAST


def _add_column(conn: sa.Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE tether_events ADD COLUMN extra TEXT")
