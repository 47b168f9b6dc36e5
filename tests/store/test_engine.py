"""Engines and migrations on a real SQLite file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tether.errors import ConfigError, StoreError
from tether.store import MIGRATIONS, current_version, make_engine, migrate
from tether.store.engine import normalize_url

TABLES = {
    "tether_schema_version",
    "tether_runs",
    "tether_events",
    "tether_blobs",
    "tether_executors",
}


def _pragma(engine: sa.Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_engine_creates_folder_and_sets_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'tether.db'}")
    try:
        assert _pragma(engine, "journal_mode") == "wal"
        assert _pragma(engine, "synchronous") == 1  # NORMAL
        assert _pragma(engine, "foreign_keys") == 1
        assert _pragma(engine, "busy_timeout") == 5000
        assert (tmp_path / "a" / "b").is_dir()
    finally:
        engine.dispose()


def test_migrate_from_empty_then_noop(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'tether.db'}")
    try:
        assert current_version(engine) == 0
        assert migrate(engine) == MIGRATIONS[-1][0] == 2
        assert TABLES <= set(sa.inspect(engine).get_table_names())
        assert migrate(engine) == 2
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version, name FROM tether_schema_version")).all()
        assert [tuple(r) for r in rows] == [(n, name) for n, name, _ in MIGRATIONS]
    finally:
        engine.dispose()


def test_events_table_shape(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'tether.db'}")
    try:
        migrate(engine)
        inspector = sa.inspect(engine)
        uniques = {
            tuple(u["column_names"]) for u in inspector.get_unique_constraints("tether_events")
        }
        assert ("run_id", "segment", "step", "kind", "idx") in uniques
        fks = inspector.get_foreign_keys("tether_events")
        assert {fk["referred_table"] for fk in fks} == {"tether_runs", "tether_blobs"}
        indexed = {c for ix in inspector.get_indexes("tether_runs") for c in ix["column_names"]}
        assert "status" in indexed
    finally:
        engine.dispose()


def test_later_migrations_apply_in_order_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'tether.db'}")
    calls: list[int] = []

    nxt = MIGRATIONS[-1][0] + 1

    def add_column(conn: sa.Connection) -> None:
        calls.append(nxt)
        conn.exec_driver_sql("ALTER TABLE tether_runs ADD COLUMN note TEXT")

    try:
        migrate(engine)
        steps = (*MIGRATIONS, (nxt, "add note", add_column))
        assert migrate(engine, steps) == nxt
        assert migrate(engine, steps) == nxt
        assert calls == [nxt]
        columns = {c["name"] for c in sa.inspect(engine).get_columns("tether_runs")}
        assert "note" in columns
    finally:
        engine.dispose()


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'tether.db'}")

    def broken(conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE tether_half (x INTEGER)")
        conn.exec_driver_sql("SELECT * FROM no_such_table")

    try:
        last = MIGRATIONS[-1][0]
        with pytest.raises(StoreError, match=f"migration {last + 1}"):
            migrate(engine, (*MIGRATIONS, (last + 1, "broken", broken)))
        assert current_version(engine) == last
        assert "tether_half" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_concurrent_migrate_tolerates_the_race(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tether.db'}"
    engines = [make_engine(url) for _ in range(6)]
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
    assert results == [MIGRATIONS[-1][0]] * len(engines)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:p@db.example/tether", "postgresql+psycopg"),
        ("postgres://u@db.example/tether", "postgresql+psycopg"),
        ("postgresql+psycopg2://u@db.example/tether", "postgresql+psycopg2"),
        ("sqlite:///x/tether.db", "sqlite"),
    ],
)
def test_url_driver_mapping(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


@pytest.mark.parametrize("url", ["not a url", "mysql://u:pw@h/db", "://nothing"])
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="TETHER_DB") as info:
        make_engine(url)
    assert "sqlite:///" in str(info.value)
    assert "pw@" not in str(info.value)


def test_unwritable_folder_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="TETHER_DB"):
        make_engine(f"sqlite:///{blocker / 'sub' / 'tether.db'}")
