"""Migration 9: the semantic store's search indexes on PostgreSQL (SQLite has FTS5 since 6).

- ``tsv``: a stored generated ``tsvector`` of heading and text (English configuration) with a
  GIN index: PostgreSQL's full text for hybrid search.
- ``vec``: a pgvector ``vector`` column (untyped: any model's dimension) with a partial HNSW
  index (cosine) on ``vec::vector(384)`` for 384-dimension rows; rows stored before this
  migration get their ``vec`` from their ``embedding`` bytes here.

pgvector is not a trusted extension: ``CREATE EXTENSION vector`` needs a superuser (or a
database where it is installed already). Where it cannot be created the migration adds only
``tsv``, and the store searches vectors in process (as on SQLite); installing pgvector later
and running ``ALTER TABLE tether_memory_chunks ADD COLUMN vec vector`` plus the index below
(then a backfill) turns it on.

Adding a stored generated column rewrites the table once (a short exclusive lock on a small
table; on a large one, run the migration in a quiet moment).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tether.store.schema import memory_chunks

TABLE = memory_chunks.name
VECTOR_INDEX = "ix_tether_memory_chunks_vec384"
TSV_INDEX = "ix_tether_memory_chunks_tsv"
_BACKFILL_BATCH = 500


def memory_search_indexes(conn: sa.Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    columns = table_columns(conn)
    if "tsv" not in columns:
        conn.exec_driver_sql(
            f"ALTER TABLE {TABLE} ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
            "(to_tsvector('english'::regconfig, heading || ' ' || text)) STORED"
        )
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {TSV_INDEX} ON {TABLE} USING gin (tsv)")
    if not _vector_extension(conn):
        return
    if "vec" not in columns:
        conn.exec_driver_sql(f"ALTER TABLE {TABLE} ADD COLUMN vec vector")
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {VECTOR_INDEX} ON {TABLE} "
        "USING hnsw ((vec::vector(384)) vector_cosine_ops) WHERE dim = 384"
    )
    _backfill(conn)


def table_columns(conn: sa.Connection) -> set[str]:
    """The chunks table's columns on PostgreSQL (the inspector warns about ``vector``)."""
    stmt = sa.text(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = :t"
    )
    return set(conn.scalars(stmt, {"t": TABLE}))


def _vector_extension(conn: sa.Connection) -> bool:
    """Create pgvector unless it is there; False when this server or role cannot."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
    except DBAPIError:
        return False
    return True


def _backfill(conn: sa.Connection) -> None:
    c = memory_chunks.c
    while True:
        rows = conn.execute(
            sa.text(f"SELECT id, embedding FROM {TABLE} WHERE vec IS NULL LIMIT :n"),
            {"n": _BACKFILL_BATCH},
        ).all()
        if not rows:
            return
        conn.execute(
            sa.text(f"UPDATE {TABLE} SET vec = CAST(:vec AS vector) WHERE {c.id.name} = :id"),
            [{"id": r.id, "vec": vector_text(bytes(r.embedding))} for r in rows],
        )


def vector_text(vector: npt.NDArray[np.float32] | bytes) -> str:
    """pgvector's text form ``[x,y,...]`` of a float32 vector or its raw bytes (9 significant
    digits: float32 round-trips)."""
    values = np.frombuffer(vector, dtype=np.float32) if isinstance(vector, bytes) else vector
    return "[" + ",".join(f"{float(x):.9g}" for x in values) + "]"
