"""Numbered schema migrations, applied in order, each in its own transaction.

A migration is ``(number, name, fn)``; ``fn(conn)`` runs inside the transaction that records
it in ``tether_schema_version``, so a migration is applied entirely or not at all. Two processes
may call :func:`migrate` at once: the transaction holds the database's write lock (SQLite
``BEGIN IMMEDIATE``, a PostgreSQL advisory lock) and re-checks what is applied under it.

Safe on a live database (workers running): migrations are additive (new tables, new nullable
or defaulted columns, new indexes; never a rewrite of the journal), and on PostgreSQL each
migration sets ``lock_timeout``, so a DDL statement waiting behind a long transaction gives up
after a few seconds (and is retried) instead of queueing every journal writer behind its
exclusive lock. Adding a column with a constant default is metadata-only on PostgreSQL 11+.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tether.errors import StoreError
from tether.store.engine import write_transaction
from tether.store.memory_hnsw import tune_vector_index
from tether.store.memory_search import memory_search_indexes
from tether.store.schema import (
    agent_channels,
    agent_releases,
    agent_versions,
    alert_transitions,
    alerts,
    api_keys,
    approvals,
    blobs,
    canary_runs,
    events,
    executors,
    feature_flags,
    forget_log,
    kill_switches,
    memory_chunks,
    memory_episodes,
    memory_generations,
    memory_profile,
    metadata,
    notifications,
    operator_messages,
    ratings,
    runs,
    schema_version,
    session_turns,
    subject_keys,
    subject_runs,
    trigger_deliveries,
)

MigrationFn = Callable[[sa.Connection], None]
Migration = tuple[int, str, MigrationFn]

_PG_LOCK_KEY = 0x7E7E_7E7E  # any constant; all tether processes agree on it
_ATTEMPTS = 3
LOCK_TIMEOUT_S = 5.0  # how long one DDL statement may wait for its lock on PostgreSQL


def _initial_tables(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[runs, blobs, events], checkfirst=True)


def _executors(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[executors], checkfirst=True)
    columns = {c["name"] for c in sa.inspect(conn).get_columns("tether_runs")}
    if "executor_id" not in columns:  # a database made by migration 1 before this column
        conn.execute(sa.text("ALTER TABLE tether_runs ADD COLUMN executor_id VARCHAR(200)"))


def add_column(conn: sa.Connection, table: str, column: str, ddl: str) -> None:
    """``ALTER TABLE table ADD COLUMN column ddl`` unless the column exists (additive)."""
    if column not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _run_versions(conn: sa.Connection) -> None:
    add_column(conn, "tether_runs", "tether_version", "VARCHAR(100) DEFAULT '' NOT NULL")


def _operator_controls(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[kill_switches, operator_messages], checkfirst=True)


def _approvals(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[approvals], checkfirst=True)


MEMORY_FTS = "tether_memory_fts"


def _semantic_memory(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[memory_chunks, memory_generations], checkfirst=True)
    if conn.dialect.name == "sqlite":  # full text on PostgreSQL comes with its store
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {MEMORY_FTS} USING fts5("
            "chunk_id UNINDEXED, heading, text, tokenize='porter unicode61')"
        )


def _memory_tiers(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[memory_episodes, memory_profile], checkfirst=True)


def _privacy(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[subject_keys, subject_runs, forget_log], checkfirst=True)


def _sessions(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[session_turns], checkfirst=True)


def _service(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[api_keys, trigger_deliveries, ratings], checkfirst=True)


def _flags_and_shadows(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[feature_flags], checkfirst=True)
    add_column(conn, "tether_runs", "user_group", "VARCHAR(200)")
    add_column(conn, "tether_runs", "shadow_of", "VARCHAR(128)")


def _tenant_kill_switches(conn: sa.Connection) -> None:
    add_column(conn, "tether_kill_switches", "tenant", "VARCHAR(200) DEFAULT '' NOT NULL")


def _agent_versions(conn: sa.Connection) -> None:
    tables = [agent_versions, agent_channels, agent_releases, canary_runs]
    metadata.create_all(conn, tables=tables, checkfirst=True)


def _key_groups(conn: sa.Connection) -> None:
    add_column(conn, "tether_api_keys", "user_group", "VARCHAR(200)")


def _notifications(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[notifications, alerts, alert_transitions], checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    (1, "initial tables", _initial_tables),
    (2, "executor leases", _executors),
    (3, "tether version per run", _run_versions),
    (4, "kill switches and operator messages", _operator_controls),
    (5, "approvals", _approvals),
    (6, "semantic memory", _semantic_memory),
    (7, "episodic and profile memory", _memory_tiers),
    (8, "subject keys and forget log", _privacy),
    (9, "memory search indexes on postgresql", memory_search_indexes),
    (12, "sessions", _sessions),
    (15, "api keys, webhook deliveries, ratings", _service),
    (16, "agent versions, release channels, canaries", _agent_versions),
    (17, "feature flags, user groups and shadow runs", _flags_and_shadows),
    (18, "notification outbox and alert states", _notifications),
    (19, "kill switches per tenant", _tenant_kill_switches),
    (20, "pgvector hnsw build parameters", tune_vector_index),
    (22, "a user group per api key", _key_groups),
)


def migrate(
    engine: sa.Engine,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> int:
    """Apply the missing migrations in order; returns the schema version afterwards.

    Idempotent: a second call (or one racing in another process) applies nothing.
    """
    ordered = _checked(migrations)
    if _applied_versions(engine) >= {number for number, _, _ in ordered}:
        return current_version(engine)
    for number, name, fn in ordered:
        _apply(engine, number, name, fn, lock_timeout_s)
    return current_version(engine)


def current_version(engine: sa.Engine) -> int:
    """The highest applied migration number (0 for an empty database)."""
    return max(_applied_versions(engine), default=0)


def _checked(migrations: Sequence[Migration]) -> list[Migration]:
    ordered = sorted(migrations, key=lambda m: m[0])
    numbers = [number for number, _, _ in ordered]
    if len(set(numbers)) != len(numbers) or any(n < 1 for n in numbers):
        raise StoreError(f"migration numbers must be unique and positive, got {numbers!r}")
    return ordered


def _applied_versions(engine: sa.Engine) -> set[int]:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table(schema_version.name):
                    return set()
                return set(conn.scalars(sa.select(schema_version.c.version)))
        except DBAPIError as exc:
            # A brand-new SQLite file: another process switching it to WAL answers "locked"
            # at once, without waiting on the busy timeout; look again shortly.
            if attempt == _ATTEMPTS or "locked" not in str(exc.orig):
                raise StoreError(f"cannot read the schema version: {exc.orig}") from exc
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _apply(
    engine: sa.Engine, number: int, name: str, fn: MigrationFn, lock_timeout_s: float
) -> None:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with write_transaction(engine) as conn:
                _lock(conn, lock_timeout_s)
                schema_version.create(conn, checkfirst=True)
                done = conn.scalar(
                    sa.select(schema_version.c.version).where(schema_version.c.version == number)
                )
                if done is not None:
                    return
                fn(conn)
                conn.execute(
                    sa.insert(schema_version).values(
                        version=number, name=name, applied_at=datetime.now(UTC)
                    )
                )
            return
        except DBAPIError as exc:
            # Another process may have won a race the lock did not cover; look again.
            if attempt == _ATTEMPTS:
                raise StoreError(
                    f"migration {number} ({name!r}) failed: {exc.orig}; "
                    "check the database (TETHER_DB) is reachable and writable"
                ) from exc


def _lock(conn: sa.Connection, lock_timeout_s: float) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        ms = max(1, int(lock_timeout_s * 1000))
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
