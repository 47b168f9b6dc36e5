"""Database engines: one place that knows SQLite's and PostgreSQL's connection quirks.

SQLite files run in WAL mode with ``synchronous=NORMAL``, foreign keys on and a 30 s busy
timeout (DBOS's own), set on every new connection: with 5 s, a worker's ``BEGIN IMMEDIATE``
was refused "database is locked" while 32 clients submitted runs to 2 workers x 16
(bench/service.py), and its run was lost in the queue. SQLAlchemy (not ``sqlite3``) emits
``BEGIN`` so that DDL is transactional and so that writers can ask for ``BEGIN IMMEDIATE``
(:func:`write_transaction`), which waits on the busy timeout instead of failing when two
writers meet.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from tether.errors import ConfigError, StoreError

_FIX = (
    "set TETHER_DB to 'sqlite:///PATH/tether.db' or 'postgresql://USER:PASSWORD@HOST:PORT/DB'"
    " (or unset it to use .tether/tether.db)"
)
_SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=30000",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
_BEGIN_OPTION = "tether_sqlite_begin"
P = ParamSpec("P")
T = TypeVar("T")
_PRAGMA_ATTEMPTS = 50  # about 25 s of waiting in all
APPLICATION_NAME = "tether"  # tether's connections in pg_stat_activity
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE")}


def normalize_url(url: str) -> URL:
    """Parse ``url`` and pick tether's driver: ``postgresql://`` means ``postgresql+psycopg``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {url!r} (TETHER_DB) is not a valid URL; {_FIX}") from exc
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        driver = parsed.drivername.partition("+")[2] or "psycopg"
        return parsed.set(drivername=f"postgresql+{driver}")
    if backend == "sqlite":
        return parsed
    shown = parsed.render_as_string(hide_password=True)
    raise ConfigError(
        f"database URL {shown!r} (TETHER_DB) names unsupported backend {backend!r}; {_FIX}"
    )


def make_engine(url: str, *, pool_size: int = 5) -> sa.Engine:
    """Create an engine for ``url`` (SQLite file or PostgreSQL); a bad URL is a ConfigError.

    On PostgreSQL the pool is bounded: at most ``pool_size`` connections (no overflow), named
    ``tether`` in ``pg_stat_activity``, so that processes × pools stays under the server's
    ``max_connections`` (docs/deploy.md has the arithmetic).
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    try:
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=30,
            connect_args={"application_name": APPLICATION_NAME},
        )
    except (ModuleNotFoundError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} (TETHER_DB) needs the "
            f"driver {parsed.get_driver_name()!r}: pip install 'psycopg[binary]', or {_FIX}"
        ) from exc


def _sqlite_engine(url: URL) -> sa.Engine:
    database = url.database or ""
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if database in ("", ":memory:") or database.startswith("file:"):
        kwargs["poolclass"] = StaticPool
    else:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the database folder {str(folder)!r} for TETHER_DB={database!r}: "
                f"{exc.strerror}; {_FIX}"
            ) from exc
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _on_sqlite_begin); sqlite3 must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            _execute_pragma(cursor, pragma)
    finally:
        cursor.close()


def _execute_pragma(cursor: Any, pragma: str) -> None:
    """Run ``pragma``, waiting out "database is locked": switching a brand-new file to WAL
    while another connection does the same fails at once, without the busy timeout."""
    for attempt in range(1, _PRAGMA_ATTEMPTS + 1):
        try:
            cursor.execute(pragma)
            return
        except sqlite3.OperationalError as exc:
            if attempt == _PRAGMA_ATTEMPTS or "locked" not in str(exc):
                raise
            time.sleep(0.02 * attempt)


def _on_sqlite_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    statement = _BEGIN[mode]
    # Straight to the driver (through SQLAlchemy a statement costs ~30 µs, per transaction);
    # its errors are wrapped as SQLAlchemy wraps them, so callers still catch DBAPIError.
    try:
        conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


async def read_now(engine: sa.Engine, read: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
    """Run a short read (one indexed query, ~0.08 ms) for a coroutine: on SQLite in the calling
    thread, since in WAL mode a reader does not wait for writers and, on a loaded machine, the
    hop to a worker thread and back costs more than the query (the pre-step check: 0.42 ms
    for the query, 0.82 ms with the hop); elsewhere in a worker thread, so that a round trip
    to the server never blocks the event loop."""
    if engine.dialect.name == "sqlite":
        return read(*args, **kw)
    return await asyncio.to_thread(read, *args, **kw)


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that will write: ``BEGIN IMMEDIATE`` on SQLite, plain elsewhere.

    Taking SQLite's write lock up front makes a second writer wait (busy timeout) instead of
    failing with "database is locked" when it upgrades a read transaction.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn


def insert_ignoring_conflicts(engine: sa.Engine | sa.Connection, table: sa.Table) -> sa.Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for ``table`` in the engine's dialect."""
    name = engine.dialect.name
    if name == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    if name == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing()
    raise StoreError(f"database backend {name!r} is not supported; use SQLite or PostgreSQL")
