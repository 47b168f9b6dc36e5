"""Forget-me: destroy a subject's data key and delete their rows, physically, and log it.

``forget_subject`` runs in one write transaction: it deletes the subject's rows from every table
in the registry (:data:`SUBJECT_TABLES`: semantic chunks and their FTS5 rows, episodes, profile
entries), bumps the write generation of each scope it touched (so every process's result and
vector caches drop what they hold of them), deletes the subject's data key (whatever was sealed
with it, in the journal or anywhere else it was copied, can no longer be opened) and writes one
``tether_forget_log`` row: the subject's keyed hash, the counts and the time, no data.

On SQLite the deletion is made physical: ``secure_delete`` zeroes the deleted cells, FTS5's
``optimize`` rewrites the index without the deleted entries, ``VACUUM`` rebuilds the file
from live rows only (stale cells and free pages included), and ``wal_checkpoint(TRUNCATE)``
empties the WAL. The tenant's saved HNSW index files of the models the subject's vectors were
made by are deleted (:mod:`tether.memory.ann_files`). On PostgreSQL rows are deleted with
plain ``DELETE``; their dead tuples stay on disk until ``VACUUM`` reuses the space
(docs/architecture.md, README "Privacy").
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tether.errors import StoreError, UsageError
from tether.memory.ann_files import default_index_dir, drop_indexes
from tether.privacy.keys import MasterKey, destroy_key
from tether.store.engine import write_transaction
from tether.store.migrations import MEMORY_FTS
from tether.store.schema import (
    forget_log,
    memory_chunks,
    memory_generations,
    runs,
    subject_runs,
)

__all__ = ["SUBJECT_TABLES", "ForgetReport", "SubjectRows", "forget_subject"]


@dataclass(frozen=True, kw_only=True)
class SubjectRows:
    """A table with rows about subjects, deleted by ``(tenant, subject)`` on forget.

    ``fts``: a SQLite FTS5 table whose ``fts_id`` column points at this table's ``id`` column
    (its rows go first). ``scoped``: the table has a ``scope`` column whose write generation
    (``tether_memory_generations``) the caches watch.
    """

    table: str
    tenant_column: str = "tenant"
    subject_column: str = "subject"
    id_column: str = "id"
    fts: str | None = None
    fts_id: str = "chunk_id"
    scoped: bool = False


# Every table that holds rows about a subject. A memory tier with such a table adds a line here.
SUBJECT_TABLES: tuple[SubjectRows, ...] = (
    SubjectRows(table="tether_memory_chunks", fts=MEMORY_FTS, scoped=True),
    SubjectRows(table="tether_memory_episodes"),
    SubjectRows(table="tether_memory_profile"),
)


@dataclass(frozen=True, kw_only=True)
class ForgetReport:
    """What a forget deleted: rows per table, data keys destroyed, physical clean-up done."""

    tenant: str
    subject_hash: str
    counts: dict[str, int]
    keys: int
    forgotten_at: datetime
    compacted: list[str] = field(default_factory=list)  # e.g. fts optimize, vacuum, wal

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "subject_hash": self.subject_hash,
            "counts": self.counts,
            "keys": self.keys,
            "forgotten_at": self.forgotten_at.isoformat(),
            "compacted": self.compacted,
        }


def forget_subject(
    engine: sa.Engine,
    master: MasterKey,
    tenant: str,
    subject: str,
    *,
    by: str = "",
    tables: Sequence[SubjectRows] = SUBJECT_TABLES,
    vacuum: bool = True,
    index_dir: Path | None = None,
) -> ForgetReport:
    """Forget ``subject`` of ``tenant``: rows deleted, key destroyed, the forget logged.

    ``vacuum`` (SQLite): rebuild the file afterwards so no stale copy survives in free pages;
    it rewrites the whole database, so a caller forgetting many subjects may pass False for all
    but the last. ``index_dir``: where the semantic store saves its HNSW indexes (default:
    beside a SQLite file); the tenant's saved indexes of the models the subject's vectors were
    made by are deleted (they hold those vectors; the next search rebuilds one).
    """
    if not tenant or not subject:
        raise UsageError("forget needs a tenant and a subject; pass SUBJECT (and --tenant)")
    hashed = master.subject_hash(tenant, subject)
    now = datetime.now(UTC)
    sqlite = engine.dialect.name == "sqlite"
    with write_transaction(engine) as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        models = _vector_models(conn, tenant, subject)
        counts: dict[str, int] = {}
        for spec in tables:
            counts.update(_delete_rows(conn, spec, tenant, subject))
        counts.update(_forget_runs(conn, tenant, hashed))
        keys = destroy_key(conn, tenant, hashed)
        conn.execute(
            sa.insert(forget_log).values(
                tenant=tenant,
                subject_hash=hashed,
                counts=json.dumps(counts | {"tether_subject_keys": keys}, sort_keys=True),
                by=by,
                forgotten_at=now,
            )
        )
        compacted = [f"optimize {s.fts}" for s in tables if sqlite and s.fts]
        for spec in tables:
            if sqlite and spec.fts:
                conn.exec_driver_sql(f"INSERT INTO {spec.fts}({spec.fts}) VALUES('optimize')")
    folder = index_dir if index_dir is not None else default_index_dir(engine)
    dropped = drop_indexes(folder, tenant, models)
    if dropped:
        compacted.append(f"deleted {len(dropped)} saved vector index files")
    if sqlite:
        compacted += _compact_sqlite(engine, vacuum=vacuum)
    return ForgetReport(
        tenant=tenant,
        subject_hash=hashed,
        counts=counts,
        keys=keys,
        forgotten_at=now,
        compacted=compacted,
    )


def _vector_models(conn: sa.Connection, tenant: str, subject: str) -> set[str]:
    """The embedding models of the subject's semantic chunks (their tenant's saved indexes
    of those models hold the vectors)."""
    c = memory_chunks.c
    stmt = sa.select(c.model).where(c.tenant == tenant, c.subject == subject).distinct()
    return set(conn.scalars(stmt))


def _delete_rows(
    conn: sa.Connection, spec: SubjectRows, tenant: str, subject: str
) -> dict[str, int]:
    table = sa.table(
        spec.table,
        sa.column(spec.tenant_column),
        sa.column(spec.subject_column),
        sa.column(spec.id_column),
        *([sa.column("scope")] if spec.scoped else []),
    )
    where = (table.c[spec.tenant_column] == tenant, table.c[spec.subject_column] == subject)
    counts: dict[str, int] = {}
    if spec.scoped:
        scopes = set(conn.scalars(sa.select(table.c.scope).where(*where).distinct()))
        _bump(conn, tenant, scopes)
    if spec.fts and conn.dialect.name == "sqlite":
        fts = sa.table(spec.fts, sa.column(spec.fts_id))
        ids = sa.select(table.c[spec.id_column]).where(*where).scalar_subquery()
        result = conn.execute(sa.delete(fts).where(fts.c[spec.fts_id].in_(ids)))
        counts[spec.fts] = int(result.rowcount or 0)
    counts[spec.table] = int(conn.execute(sa.delete(table).where(*where)).rowcount or 0)
    return counts


def _bump(conn: sa.Connection, tenant: str, scopes: set[str]) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for scope in sorted(scopes):
        stmt = insert(memory_generations).values(tenant=tenant, scope=scope, generation=1)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant", "scope"],
                set_={"generation": memory_generations.c.generation + 1},
            )
        )


# DBOS's tables whose rows belong to one workflow (``RUN:segN``); on PostgreSQL in schema dbos
# (table, the column holding the workflow id); a table or column this DBOS lacks is skipped
DBOS_TABLES = (
    ("operation_outputs", "workflow_uuid"),
    ("notifications", "destination_uuid"),
    ("workflow_events", "workflow_uuid"),
    ("workflow_events_history", "workflow_uuid"),
    ("streams", "workflow_uuid"),
    ("workflow_input", "workflow_uuid"),
    ("workflow_output", "workflow_uuid"),
    ("workflow_status", "workflow_uuid"),
)
_OPEN = ("queued", "running", "paused", "needs_review")


def _forget_runs(conn: sa.Connection, tenant: str, hashed: str) -> dict[str, int]:
    """Delete DBOS's rows of the subject's ended runs (their journals stay: the PII in them is
    sealed with the key about to be destroyed). A run still open keeps its rows and link."""
    links = subject_runs.c
    stmt = (
        sa.select(links.run_id)
        .select_from(subject_runs.join(runs, runs.c.id == links.run_id))
        .where(links.tenant == tenant, links.subject_hash == hashed)
        .where(runs.c.status.not_in(_OPEN))
    )
    ended = list(conn.scalars(stmt))
    counts = {"dbos": 0, "tether_subject_runs": 0}
    if not ended:
        return counts
    schema = "dbos" if conn.dialect.name == "postgresql" else None
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names(schema=schema))
    for name, column in DBOS_TABLES:
        if name not in present:
            continue
        if column not in {c["name"] for c in inspector.get_columns(name, schema=schema)}:
            continue
        table = sa.table(name, sa.column(column), schema=schema)
        for run_id in ended:
            pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where = table.c[column].like(f"{pattern}:seg%", escape="\\")
            counts["dbos"] += int(conn.execute(sa.delete(table).where(where)).rowcount or 0)
    done = sa.delete(subject_runs).where(links.run_id.in_(ended))
    counts["tether_subject_runs"] = int(conn.execute(done).rowcount or 0)
    return counts


_CHECKPOINT_ATTEMPTS = 20


def _compact_sqlite(engine: sa.Engine, *, vacuum: bool) -> list[str]:
    """Outside any transaction: VACUUM, then empty the WAL (retried while readers hold it)."""
    done: list[str] = []
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        if vacuum:
            driver.execute("VACUUM")
            done.append("vacuum")
        for attempt in range(_CHECKPOINT_ATTEMPTS):
            busy, _log, _moved = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy == 0:
                done.append("wal truncated")
                return done
            time.sleep(0.05 * (attempt + 1))
    raise StoreError(
        "forget deleted the rows but could not empty the WAL: other connections keep reading; "
        "run 'tether memory forget' again when they are idle"
    )
