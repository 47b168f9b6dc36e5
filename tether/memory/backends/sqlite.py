"""The semantic store on SQLite: FTS5 full text (bm25, Porter stemming) and in-process vectors
(exact, or HNSW for large tenants: :mod:`.inprocess`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tether.memory._bert import F32
from tether.memory.ann import AnnSettings
from tether.memory.backends.base import GenerationFn
from tether.memory.backends.inprocess import LocalVectors
from tether.memory.search import Filters
from tether.privacy.seal import index_text
from tether.store.migrations import MEMORY_FTS
from tether.store.schema import memory_chunks as chunks

_FTS = sa.table(MEMORY_FTS, sa.column("chunk_id"), sa.column("heading"), sa.column("text"))


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: the terms quoted (operators in them mean nothing), OR-ed."""
    return " OR ".join('"{}"'.format(t.replace('"', '""')) for t in terms)


class SqliteBackend:
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
        self.vectors = LocalVectors(
            engine, model, generation, settings=settings, index_dir=index_dir
        )

    def insert(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        conn.execute(sa.insert(chunks), list(rows))
        fts_rows = [  # sealed PII is indexed as its kind (``[email]``), never its ciphertext
            {
                "chunk_id": r["id"],
                "heading": index_text(" ".join(json.loads(r["heading"]))),
                "text": index_text(r["text"]),
            }
            for r in rows
        ]
        conn.execute(sa.insert(_FTS), fts_rows)

    def delete(self, conn: sa.Connection, where: Sequence[sa.ColumnElement[bool]]) -> None:
        old = sa.select(chunks.c.id).where(*where).scalar_subquery()
        conn.execute(sa.delete(_FTS).where(_FTS.c.chunk_id.in_(old)))
        conn.execute(sa.delete(chunks).where(*where))

    def fulltext(
        self, tenant: str, terms: Sequence[str], n: int, where: Sequence[sa.ColumnElement[bool]]
    ) -> list[str]:
        stmt = (
            sa.select(chunks.c.id)
            .select_from(_FTS.join(chunks, chunks.c.id == _FTS.c.chunk_id))
            .where(sa.text(f"{MEMORY_FTS} MATCH :q").bindparams(q=fts5_query(terms)))
            .where(*where)
            .order_by(sa.text(f"bm25({MEMORY_FTS})"))
            .limit(n)
        )
        with self.engine.connect() as conn:
            return list(conn.scalars(stmt))

    def vector(
        self, tenant: str, query: F32, n: int, filters: Filters, now: datetime
    ) -> list[tuple[str, float]]:
        return self.vectors.search(tenant, query, n, filters, now.timestamp())
