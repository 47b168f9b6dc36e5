"""SQLite engine specifics and URL handling (migrations: tests/conformance)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from tether.errors import ConfigError
from tether.store import make_engine, migrate
from tether.store.engine import normalize_url, write_transaction


def _pragma(engine: sa.Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_engine_creates_folder_and_sets_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'tether.db'}")
    try:
        assert _pragma(engine, "journal_mode") == "wal"
        assert _pragma(engine, "synchronous") == 1  # NORMAL
        assert _pragma(engine, "foreign_keys") == 1
        assert _pragma(engine, "busy_timeout") == 30000
        assert (tmp_path / "a" / "b").is_dir()
    finally:
        engine.dispose()


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


def test_writers_begin_immediately_and_a_lock_timeout_is_a_dbapi_error(tmp_path: Path) -> None:
    path = tmp_path / "tether.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        with write_transaction(engine):  # BEGIN IMMEDIATE: holds the write lock
            holder.execute("PRAGMA busy_timeout=50")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                holder.execute("BEGIN IMMEDIATE")
        holder.execute("BEGIN IMMEDIATE")  # now the holder has it
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=50")
            conn.commit()
            conn.execution_options(tether_sqlite_begin="IMMEDIATE")
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                conn.begin()
    finally:
        holder.close()
        engine.dispose()
