"""Migration 20: the pgvector HNSW index's build parameters (``m``, ``ef_construction``).

Migration 9 built ``ix_tether_memory_chunks_vec384`` with pgvector's defaults (m=16,
ef_construction=64); on 100k clustered vectors that graph reached recall@10 0.81 at
ef_search 100 (bench/results/memory.json). This migration rebuilds it with :data:`HNSW_M` and
:data:`HNSW_EF_CONSTRUCTION` where its options differ (a fresh database's table is empty: the
rebuild is instant). The search side, ``hnsw.ef_search``, is set per query by the store
(``AnnSettings.pg_ef_search``).

On a large table the rebuild reads every 384-dimension row and holds the table's write lock
until it ends: run it in a quiet moment, with ``maintenance_work_mem`` large enough for the
graph (about 2 KB a row; a graph that does not fit is built much more slowly).
"""

from __future__ import annotations

import sqlalchemy as sa

from tether.store.memory_search import TABLE, VECTOR_INDEX

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128


def vector_index_ddl(m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION) -> str:
    """The ``CREATE INDEX`` of the 384-dimension HNSW index (cosine) with these parameters."""
    return (
        f"CREATE INDEX {VECTOR_INDEX} ON {TABLE} USING hnsw ((vec::vector(384)) "
        f"vector_cosine_ops) WITH (m = {int(m)}, ef_construction = {int(ef_construction)}) "
        "WHERE dim = 384"
    )


def index_options(conn: sa.Connection) -> set[str] | None:
    """The vector index's storage options (``{'m=16', ...}``), or None when there is no index
    (not PostgreSQL, or no pgvector)."""
    if conn.dialect.name != "postgresql":
        return None
    row = conn.execute(
        sa.text(
            "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND n.nspname = current_schema()"
        ),
        {"name": VECTOR_INDEX},
    ).first()
    return None if row is None else set(row[0] or ())


def tune_vector_index(conn: sa.Connection) -> None:
    options = index_options(conn)
    wanted = {f"m={HNSW_M}", f"ef_construction={HNSW_EF_CONSTRUCTION}"}
    if options is None or options == wanted:
        return
    conn.exec_driver_sql(f"DROP INDEX {VECTOR_INDEX}")
    conn.exec_driver_sql(vector_index_ddl())
