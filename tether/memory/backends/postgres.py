"""The semantic store on PostgreSQL: native full text and pgvector (migration 9).

Full text: the stored generated column ``tsv`` (``to_tsvector('english', heading || ' ' ||
text)``) with a GIN index; a question's terms are OR-ed through ``websearch_to_tsquery`` and
ranked by ``ts_rank``. Vectors: the column ``vec`` (pgvector ``vector``, untyped so that any
embedding model fits) with a partial HNSW index on ``vec::vector(384)`` for 384-dimension rows
(the local model's), cosine distance; a search orders by that same expression, so the index
is used, with pgvector's iterative scan (``hnsw.iterative_scan = strict_order``) so that rows
removed by the tenant and the other filters do not leave a result short, and with
``hnsw.ef_search`` from ``AnnSettings.pg_ef_search`` (both set for the search's transaction
only); migration 20 gives the index its build parameters (m, ef_construction). Vectors of
another dimension are searched exactly by the server (no index).

Where the server has no pgvector (migration 9 then adds no ``vec`` column), vectors are
searched in this process, as on SQLite (:mod:`.inprocess`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tether.memory._bert import F32
from tether.memory.ann import PG_EF_SEARCH_MAX, AnnSettings
from tether.memory.backends.base import GenerationFn, conditions
from tether.memory.backends.inprocess import LocalVectors
from tether.memory.search import Filters
from tether.store.memory_search import table_columns, vector_text
from tether.store.schema import memory_chunks as chunks

INDEXED_DIM = 384  # the dimension migration 9 builds an HNSW index for
_TSV: sa.ColumnElement[Any] = sa.literal_column(f"{chunks.name}.tsv")
_CONFIG: sa.ColumnElement[Any] = sa.literal_column("'english'::regconfig")
# The search's HNSW settings, for its transaction only (``set_config(..., true)`` is SET LOCAL).
_HNSW_SETTINGS = sa.text(
    "SELECT set_config('hnsw.ef_search', :ef, true), "
    "set_config('hnsw.iterative_scan', 'strict_order', true)"
)


class Vector(sa.types.UserDefinedType[str]):
    """pgvector's ``vector`` (``vector(dim)`` when a dimension is given); binds as its text
    form ``[x,y,...]``."""

    cache_ok = True

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def get_col_spec(self, **kw: Any) -> str:
        return f"vector({self.dim})" if self.dim else "vector"


# The chunks table as PostgreSQL with migration 9 has it (``tsv`` is generated: never written).
_WITH_VEC = sa.Table(
    chunks.name, sa.MetaData(), *(c._copy() for c in chunks.columns), sa.Column("vec", Vector())
)


def websearch_terms(terms: Sequence[str]) -> str:
    """A ``websearch_to_tsquery`` text matching any of ``terms`` (each quoted)."""
    return " or ".join('"{}"'.format(t.replace('"', " ")) for t in terms)


def has_pgvector(conn: sa.Connection) -> bool:
    """Whether migration 9 gave the chunks table its ``vec`` column (pgvector installed)."""
    return "vec" in table_columns(conn)


class PostgresBackend:
    def __init__(
        self,
        engine: sa.Engine,
        model: str,
        generation: GenerationFn,
        *,
        settings: AnnSettings,
        index_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.model = model
        self.settings = settings
        self.local = LocalVectors(engine, model, generation, settings=settings, index_dir=index_dir)
        self._pgvector: bool | None = None

    def pgvector(self) -> bool:
        if self._pgvector is None:
            with self.engine.connect() as conn:
                self._pgvector = has_pgvector(conn)
        return self._pgvector

    def insert(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        if not self.pgvector():
            conn.execute(sa.insert(chunks), list(rows))
            return
        with_vec = [{**r, "vec": vector_text(r["embedding"])} for r in rows]
        conn.execute(sa.insert(_WITH_VEC), with_vec)

    def delete(self, conn: sa.Connection, where: Sequence[sa.ColumnElement[bool]]) -> None:
        conn.execute(sa.delete(chunks).where(*where))

    def fulltext(
        self, tenant: str, terms: Sequence[str], n: int, where: Sequence[sa.ColumnElement[bool]]
    ) -> list[str]:
        tsq = sa.func.websearch_to_tsquery(_CONFIG, websearch_terms(terms))
        stmt = (
            sa.select(chunks.c.id)
            .where(_TSV.op("@@")(tsq), *where)
            .order_by(sa.func.ts_rank(_TSV, tsq).desc(), chunks.c.id)
            .limit(n)
        )
        with self.engine.connect() as conn:
            return list(conn.scalars(stmt))

    def vector(
        self, tenant: str, query: F32, n: int, filters: Filters, now: datetime
    ) -> list[tuple[str, float]]:
        if not self.pgvector():
            return self.local.search(tenant, query, n, filters, now.timestamp())
        dim = int(query.shape[0])
        typed = Vector(dim)
        column = sa.cast(sa.literal_column(f"{chunks.name}.vec"), typed)
        distance = column.op("<=>", return_type=sa.Float)(
            sa.cast(sa.bindparam("q", vector_text(query)), typed)
        )
        stmt = (
            sa.select(chunks.c.id, distance.label("distance"))
            .where(*conditions(tenant, self.model, filters, now), chunks.c.dim == dim)
            .order_by(distance)
            .limit(n)
        )
        with self.engine.begin() as conn:
            conn.execute(_HNSW_SETTINGS, {"ef": str(self.ef_search(n))})
            return [(r.id, 1.0 - float(r.distance)) for r in conn.execute(stmt)]

    def ef_search(self, n: int) -> int:
        """``hnsw.ef_search`` for a query asking ``n`` rows: the configured candidate list, at
        least ``2 n``, at most pgvector's limit."""
        return min(max(self.settings.pg_ef_search, 2 * n), PG_EF_SEARCH_MAX)
