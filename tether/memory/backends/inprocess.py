"""Vector search in this process: each tenant's vectors as one matrix, plus an HNSW index once
the tenant has many (SQLite, and PostgreSQL without pgvector).

A tenant's matrix is cached and reloaded when its write generation changes
(``tether_memory_generations``, bumped in each write's transaction, so other processes' writes
are seen too); the tenant's index is then brought up to the new matrix (keys removed and added,
not rebuilt), and saved under ``index_dir`` after many changes, so the next process loads it
instead of building it. The tenant is a hard filter by construction (one matrix and one index
per tenant); the other filters are masks over the matrix:

- few rows pass (``exact_rows``): they are scored exactly;
- otherwise the index is asked for enough candidates that, at the filters' selectivity, about
  ``4 n`` pass; the passing ones are re-scored exactly; if fewer than ``n`` pass, it asks for
  four times as many, and past ``_MAX_CANDIDATES`` scores the allowed rows exactly.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from threadpoolctl import ThreadpoolController

from tether.memory._bert import F32
from tether.memory.ann import AnnIndex, AnnSettings
from tether.memory.ann_files import index_path
from tether.memory.search import Filters
from tether.memory.vectors import VectorMatrix
from tether.store.schema import memory_chunks as chunks

_MAX_CANDIDATES = 8_192


@dataclass(frozen=True)
class _Tenant:
    matrix: VectorMatrix
    ann: AnnIndex | None


def filtered_top(
    matrix: VectorMatrix,
    ann: AnnIndex | None,
    query: F32,
    n: int,
    mask: npt.NDArray[np.bool_],
    settings: AnnSettings,
) -> list[tuple[str, float]]:
    """The ``n`` rows that pass ``mask`` most similar to ``query``, best first: exact when
    there is no index or few rows pass, else index candidates re-scored exactly."""
    allowed = int(mask.sum())
    if allowed == 0 or n < 1:
        return []
    if ann is None or allowed <= settings.exact_rows:
        return matrix.top(query, n, mask)
    want = min(n, allowed)
    count = math.ceil(max(4 * n, 40) * len(matrix) / allowed)
    while count <= _MAX_CANDIDATES:
        rows = matrix.positions(ann.search(query, min(count, len(matrix))))
        rows = rows[mask[rows]]
        if len(rows) >= want:
            return matrix.best(rows, query, n)
        if count >= len(matrix):
            break
        count *= 4
    return matrix.top(query, n, mask)


class LocalVectors:
    """The per-tenant matrices (and indexes) of one store, for one embedding model."""

    def __init__(
        self,
        engine: sa.Engine,
        model: str,
        generation: Callable[[str], int],
        *,
        settings: AnnSettings,
        index_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.model = model
        self.settings = settings
        self.index_dir = index_dir
        self._generation = generation
        self._tenants: dict[str, _Tenant] = {}
        self._lock = threading.Lock()  # one reload at a time; searches do not take it
        self._blas = ThreadpoolController()

    def search(
        self, tenant: str, query: F32, n: int, filters: Filters, now: float
    ) -> list[tuple[str, float]]:
        entry = self._current(tenant)
        mask = entry.matrix.mask(filters, now)
        # one BLAS thread: a matrix-vector product gains nothing from two, and OpenBLAS's
        # spinning threads were 5-10x slower on a loaded 2-core machine (bench/memory.py)
        with self._blas.limit(limits=1, user_api="blas"):
            return filtered_top(entry.matrix, entry.ann, query, n, mask, self.settings)

    def matrix(self, tenant: str) -> VectorMatrix:
        return self._current(tenant).matrix

    def _current(self, tenant: str) -> _Tenant:
        generation = self._generation(tenant)
        cached = self._tenants.get(tenant)
        if cached is not None and cached.matrix.generation == generation:
            return cached
        with self._lock:
            cached = self._tenants.get(tenant)
            if cached is not None and cached.matrix.generation == generation:
                return cached
            matrix = self._load(tenant, generation)
            ann = self._index(tenant, matrix, cached.ann if cached else None)
            entry = _Tenant(matrix, ann)
            self._tenants[tenant] = entry
            return entry

    def _load(self, tenant: str, generation: int) -> VectorMatrix:
        c = chunks.c
        stmt = sa.select(
            c.id, c.scope, c.subject, c.trust, c.created_at, c.expires_at, c.dim, c.embedding
        ).where(c.tenant == tenant, c.model == self.model)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return VectorMatrix.from_rows(rows, generation)

    def _index(self, tenant: str, matrix: VectorMatrix, old: AnnIndex | None) -> AnnIndex | None:
        """The tenant's index brought up to ``matrix``; None while exact search is enough."""
        if len(matrix) < self.settings.min_rows or not matrix.unique_keys:
            return None
        dim = int(matrix.vectors.shape[1])
        path = self._path(tenant)
        ann = old if old is not None and old.dim == dim else None
        if ann is None and path is not None:
            ann = AnnIndex.load(path, dim, self.settings)
        ann = ann or AnnIndex(dim, self.settings)
        ann.sync(matrix.keys, matrix.vectors)
        if path is not None and ann.changes >= max(1, len(matrix) // 10):
            ann.compact(matrix.keys, matrix.vectors)  # no removed vector reaches the file
            ann.save(path)
        return ann

    def _path(self, tenant: str) -> Path | None:
        if self.index_dir is None:
            return None
        return index_path(self.index_dir, tenant, self.model)
