"""The semantic store: chunks with embeddings and provenance, hybrid retrieval, on SQLite or
PostgreSQL.

Every call takes a tenant, and every query filters on it: no method returns another tenant's
rows. The store writes the chunk rows, bumps write generations (``tether_memory_generations``,
in each write's transaction, so caches in other processes see the write) and fuses rankings;
its backend (:mod:`tether.memory.backends`) does full text and vectors for the dialect: SQLite
FTS5 and in-process vectors (exact, HNSW for large tenants), or PostgreSQL ``tsvector`` and
pgvector HNSW. Hybrid search fuses both rankings by reciprocal rank (k=60), the same on both.
Results are cached per canonical search with a TTL and dropped by any write to the scope they
read.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tether.clock import Clock, SystemClock
from tether.errors import UsageError
from tether.memory._bert import F32
from tether.memory.ann import AnnSettings
from tether.memory.backends import conditions, make_backend
from tether.memory.cache import ResultCache
from tether.memory.embed import Embedder
from tether.memory.search import MODES, Filters, Mode, Trust, fts_terms, rrf, search_key
from tether.privacy.seal import Sealer, index_text, key_ids
from tether.store.engine import write_transaction
from tether.store.schema import memory_chunks as chunks
from tether.store.schema import memory_generations as generations


@dataclass(frozen=True, kw_only=True)
class MemoryItem:
    """A piece of text to remember, with its provenance."""

    text: str
    source: str = ""
    heading: tuple[str, ...] = ()
    start: int = 0
    end: int = 0
    scope: str = "default"
    subject: str | None = None
    trust: Trust = "user"
    ttl_s: float | None = None

    @property
    def embed_text(self) -> str:
        return f"{' > '.join(self.heading)}\n{self.text}" if self.heading else self.text

    def item_id(self, tenant: str) -> str:
        """Deterministic: writing the same item twice stores it once."""
        parts = [tenant, self.scope, self.subject or "", self.source, str(self.start), self.text]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class StoredChunk:
    """A semantic memory chunk as stored: its text and where it came from."""

    id: str
    text: str
    source: str
    heading: tuple[str, ...]
    start: int
    end: int
    scope: str
    subject: str | None
    trust: Trust
    created_at: datetime

    def chunk_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "heading": list(self.heading),
            "start": self.start,
            "end": self.end,
            "scope": self.scope,
            "subject": self.subject,
            "trust": self.trust,
            "created_at": self.created_at.isoformat(),
        }


def chunk_fields(row: Any) -> dict[str, Any]:
    """A ``memory_chunks`` row's columns as ``StoredChunk`` fields."""
    return {
        "id": row.id,
        "text": row.text,
        "source": row.source,
        "heading": tuple(json.loads(row.heading)),
        "start": row.start_offset,
        "end": row.end_offset,
        "scope": row.scope,
        "subject": row.subject,
        "trust": row.trust,
        "created_at": row.created_at,
    }


@dataclass(frozen=True, kw_only=True)
class Hit(StoredChunk):
    """A retrieved item. Its text is data (origin ``retrieval``), never an instruction."""

    score: float
    ranks: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.chunk_json() | {
            "origin": "retrieval",
            "score": round(self.score, 6),
            "ranks": self.ranks,
        }


class SemanticStore:
    """Chunks, vectors and full text over one engine, with one embedder's vectors."""

    def __init__(
        self,
        engine: sa.Engine,
        embedder: Embedder,
        *,
        clock: Clock | None = None,
        cache_ttl_s: float = 60.0,
        weights: tuple[float, float] = (1.0, 1.0),
        sealer: Sealer | None = None,
        ann: AnnSettings | None = None,
        index_dir: Path | None = None,
    ) -> None:
        """``ann``: when in-process vector search uses an HNSW index (SQLite, or PostgreSQL
        without pgvector); ``index_dir``: where those indexes are saved (default: beside a
        SQLite file)."""
        self.engine = engine
        self.sealer = sealer  # PII in items is sealed with the subject's key (tether/privacy)
        self.weights = weights  # RRF weights of the vector and the full-text ranking
        self.depth = 50  # candidates taken from each ranking before fusion
        self.embedder = embedder
        self.clock = clock or SystemClock()
        self.results: ResultCache[list[Hit]] = ResultCache(self.clock, ttl_s=cache_ttl_s)
        self._lock = threading.Lock()
        self.backend = make_backend(
            engine, embedder.model, self.generation, ann=ann, index_dir=index_dir
        )

    # -- writing ------------------------------------------------------------------------------

    def add(
        self,
        tenant: str,
        items: Sequence[MemoryItem],
        vectors: F32 | None = None,
        *,
        replace_source: bool = False,
    ) -> list[str]:
        """Store ``items`` for ``tenant`` (embedding them unless ``vectors`` are given); returns
        their ids. ``replace_source``: first delete the tenant's items from the same sources and
        scopes (a re-ingested file replaces its old chunks)."""
        _check_tenant(tenant)
        ids = [i.item_id(tenant) for i in items]  # of the plain items: stable across writes
        if self.sealer is not None:
            items = self.sealer.seal_items(tenant, items)
        if vectors is None:
            vectors = self.embedder.embed([index_text(i.embed_text) for i in items])
        if len(vectors) != len(items):
            raise UsageError(f"{len(items)} memory items but {len(vectors)} vectors")
        now = self.clock.now()
        rows = [
            _row(tenant, item, vec, self.embedder.model, now) | {"id": item_id}
            for item, vec, item_id in zip(items, vectors, ids, strict=True)
        ]
        with write_transaction(self.engine) as conn:
            if replace_source:
                for scope, source in {(i.scope, i.source) for i in items}:
                    self._delete(conn, tenant, scope, source)
            self._insert(conn, rows)
            for scope in {i.scope for i in items}:
                self._bump(conn, tenant, scope)
        return [r["id"] for r in rows]

    def source_ids(self, tenant: str, scope: str, source: str) -> set[str]:
        """The ids of the tenant's items from ``source`` in ``scope``."""
        _check_tenant(tenant)
        stmt = sa.select(chunks.c.id).where(
            chunks.c.tenant == tenant, chunks.c.scope == scope, chunks.c.source == source
        )
        with self.engine.connect() as conn:
            return set(conn.scalars(stmt))

    def count(self, tenant: str) -> int:
        _check_tenant(tenant)
        with self.engine.connect() as conn:
            stmt = sa.select(sa.func.count()).select_from(chunks).where(chunks.c.tenant == tenant)
            return int(conn.scalar(stmt) or 0)

    def _insert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        ids = [r["id"] for r in rows]
        existing: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            existing |= set(conn.scalars(sa.select(chunks.c.id).where(chunks.c.id.in_(part))))
        new = [r for r in dict((r["id"], r) for r in rows).values() if r["id"] not in existing]
        if not new:
            return
        self.backend.insert(conn, new)

    def _delete(self, conn: sa.Connection, tenant: str, scope: str, source: str) -> None:
        where = (chunks.c.tenant == tenant, chunks.c.scope == scope, chunks.c.source == source)
        self.backend.delete(conn, where)

    def _bump(self, conn: sa.Connection, tenant: str, scope: str) -> None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(generations).values(tenant=tenant, scope=scope, generation=1)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant", "scope"],
                set_={"generation": generations.c.generation + 1},
            )
        )

    # -- reading ------------------------------------------------------------------------------

    def search(
        self,
        tenant: str,
        query: str,
        *,
        k: int = 5,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
    ) -> list[Hit]:
        """The ``k`` best items of ``tenant`` for ``query``: ``hybrid`` (vectors and full text
        fused by reciprocal rank), ``vector`` or ``fulltext``."""
        _check_tenant(tenant)
        if mode not in MODES:
            raise UsageError(f"search mode {mode!r} is unknown; use {', '.join(MODES)}")
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        filters = filters or Filters()
        generation = self.generation(tenant, filters.scope)
        key = search_key(tenant, query, k=k, mode=mode, filters=filters)
        with self._lock:
            cached = self.results.get(key, generation)
        if cached is not None:
            return self._open(tenant, cached)
        hits = self._search(tenant, query, k, mode, filters)
        with self._lock:
            self.results.put(key, generation, hits)  # sealed: a forgotten key opens nothing
        return self._open(tenant, hits)

    def _open(self, tenant: str, hits: list[Hit]) -> list[Hit]:
        if self.sealer is None or not any(key_ids(t) for h in hits for t in (h.text, *h.heading)):
            return hits
        texts = self.sealer.open(tenant, [t for h in hits for t in (h.text, *h.heading)])
        out, at = [], 0
        for h in hits:
            size = 1 + len(h.heading)
            out.append(replace(h, text=texts[at], heading=tuple(texts[at + 1 : at + size])))
            at += size
        return out

    def _search(self, tenant: str, query: str, k: int, mode: Mode, filters: Filters) -> list[Hit]:
        depth = max(4 * k, self.depth)
        rankings: dict[str, list[str]] = {}
        if mode in ("hybrid", "vector"):
            qvec = self.embedder.embed([query])[0]
            rankings["vector"] = [i for i, _ in self.vector_search(tenant, qvec, depth, filters)]
        if mode in ("hybrid", "fulltext"):
            rankings["fulltext"] = self.fulltext_search(tenant, query, depth, filters)
        weights = [self.weights[0 if name == "vector" else 1] for name in rankings]
        fused = rrf(list(rankings.values()), weights=weights)[:k]
        rows = self._rows(tenant, [i for i, _ in fused])
        return [
            _hit(rows[i], score, {name: r.index(i) + 1 for name, r in rankings.items() if i in r})
            for i, score in fused
            if i in rows
        ]

    def vector_search(
        self, tenant: str, query: F32, n: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """The top ``n`` by cosine of the tenant's vectors that pass ``filters``: exact for
        small tenants, through an HNSW index (in process, or pgvector) for large ones."""
        _check_tenant(tenant)
        query = np.ascontiguousarray(query, dtype=np.float32)
        return self.backend.vector(tenant, query, n, filters or Filters(), self.clock.now())

    def fulltext_search(
        self, tenant: str, query: str, n: int, filters: Filters | None = None
    ) -> list[str]:
        """The ids of the tenant's best ``n`` items for the words of ``query``: SQLite FTS5
        (bm25) or PostgreSQL full text (ts_rank)."""
        _check_tenant(tenant)
        terms = fts_terms(query)
        if not terms:
            return []
        where = conditions(tenant, self.embedder.model, filters or Filters(), self.clock.now())
        return self.backend.fulltext(tenant, terms, n, where)

    def generation(self, tenant: str, scope: str | None = None) -> int:
        """The write counter of a scope (or of the whole tenant): changes on every write."""
        stmt = sa.select(sa.func.coalesce(sa.func.sum(generations.c.generation), 0)).where(
            generations.c.tenant == tenant
        )
        if scope is not None:
            stmt = stmt.where(generations.c.scope == scope)
        with self.engine.connect() as conn:
            return int(conn.scalar(stmt) or 0)

    def _rows(self, tenant: str, ids: list[str]) -> dict[str, sa.Row[Any]]:
        if not ids:
            return {}
        stmt = sa.select(chunks).where(chunks.c.tenant == tenant, chunks.c.id.in_(ids))
        with self.engine.connect() as conn:
            return {r.id: r for r in conn.execute(stmt)}


def _check_tenant(tenant: str) -> None:
    if not tenant:
        raise UsageError("memory calls need a tenant; pass one (TETHER_TENANT, default 'default')")


def _row(tenant: str, item: MemoryItem, vector: F32, model: str, now: datetime) -> dict[str, Any]:
    vec = np.ascontiguousarray(vector, dtype=np.float32)
    return {
        "id": item.item_id(tenant),
        "tenant": tenant,
        "scope": item.scope,
        "subject": item.subject,
        "trust": item.trust,
        "source": item.source,
        "heading": json.dumps(list(item.heading), ensure_ascii=False),
        "start_offset": item.start,
        "end_offset": item.end,
        "text": item.text,
        "model": model,
        "dim": int(vec.shape[0]),
        "embedding": vec.tobytes(),
        "created_at": now,
        "expires_at": now + timedelta(seconds=item.ttl_s) if item.ttl_s is not None else None,
    }


def _hit(row: sa.Row[Any], score: float, ranks: dict[str, int]) -> Hit:
    return Hit(**chunk_fields(row), score=score, ranks=ranks)
