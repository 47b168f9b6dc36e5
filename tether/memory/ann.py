"""An approximate nearest-neighbour index (HNSW, usearch) over one tenant's vectors.

Keys are 63-bit hashes of the item ids, so an index built by one process stays valid for
another: :meth:`AnnIndex.sync` brings a loaded or older index up to a tenant's current matrix
by removing the keys that are gone and adding the new ones (a rebuild when most changed).
Vectors are kept in bfloat16 inside the graph; the candidates it returns are re-scored exactly
with the float32 matrix, so the stored precision only steers the walk.

usearch, not hnswlib: usearch ships manylinux wheels for Python 3.11 and is released monthly;
hnswlib's last release (0.8.0, 2023) is a source distribution that needs a C++ build.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tether.errors import ConfigError, StoreError
from tether.memory._bert import F32

U64 = npt.NDArray[np.uint64]
_INSTALL = "pip install 'usearch>=2.20'"
PG_EF_SEARCH = 200
PG_EF_SEARCH_MAX = 1000  # pgvector's limit


@dataclass(frozen=True, kw_only=True)
class AnnSettings:
    """When and how the in-process vector search uses an HNSW index.

    ``min_rows``: below it search is exact (a matrix-vector product is fast and needs no
    build); measured on a loaded 2-core machine (bench/memory.py), exact search of 20,000
    rows takes about 2 ms and building their index about 4 s. ``exact_rows``: a filtered
    search whose filters leave at most this many rows scores them exactly (no oversampling
    can miss them). ``ef``: the search's candidate list. Measured at 1M synthetic clustered
    rows on the 2-core machine (bench/results/memory.json, ``bench/memory.py scale``): recall@10
    against exact search 0.742 at ef=256, 0.951 at 1024, 0.973 at 1536, 0.985 at 2048 (p50
    19.7 ms, the goal being 0.95 within 60 ms), 0.991 at 3072; 2048 leaves a margin over 0.95,
    since recall varies from one build to the next.

    ``pg_ef_search``: on PostgreSQL with pgvector, the HNSW index's candidate list per query
    (``hnsw.ef_search``, set for the query's transaction only; at least twice the rows asked
    for; pgvector accepts 1-1000). Measured on 100k clustered vectors with migration 20's
    index (m=16, ef_construction=128): recall@10 0.955 at 100, 0.974 at 200, 0.988 at 400 (p50
    15-20 ms up to 400, 35 ms at 800); bench/results/memory.json has the figures."""

    min_rows: int = 20_000
    exact_rows: int = 20_000
    connectivity: int = 16
    ef_add: int = 128
    ef: int = 2048
    threads: int = 0  # 0: all cores, for builds; searches use one
    pg_ef_search: int = PG_EF_SEARCH

    def __post_init__(self) -> None:
        if not 1 <= self.pg_ef_search <= PG_EF_SEARCH_MAX:
            raise ConfigError(
                f"AnnSettings.pg_ef_search={self.pg_ef_search} is out of range; pgvector's "
                f"hnsw.ef_search takes 1-{PG_EF_SEARCH_MAX} (default {PG_EF_SEARCH})"
            )


def item_key(item_id: str) -> int:
    """A stable 63-bit key for an item id (the same in every process)."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big") >> 1


def item_keys(ids: list[str]) -> U64:
    return np.fromiter((item_key(i) for i in ids), dtype=np.uint64, count=len(ids))


def _usearch() -> Any:
    try:
        from usearch.index import Index
    except ImportError as exc:  # pragma: no cover - a dependency of tether
        raise ConfigError(f"vector search over large memories needs usearch: {_INSTALL}") from exc
    return Index


class AnnIndex:
    """An HNSW graph keyed by :func:`item_key`; cosine distance over unit vectors."""

    def __init__(self, dim: int, settings: AnnSettings, index: Any = None) -> None:
        self.dim = dim
        self.settings = settings
        self._index: Any = index or _usearch()(
            ndim=dim,
            metric="cos",
            dtype="bf16",
            connectivity=settings.connectivity,
            expansion_add=settings.ef_add,
            expansion_search=settings.ef,
        )
        self.changes = 0  # keys added or removed since the last save or load
        self.removed = 0  # keys removed since the graph was built: their vectors' bytes stay

    def __len__(self) -> int:
        return len(self._index)

    def keys(self) -> U64:
        return np.asarray(self._index.keys, dtype=np.uint64)

    def sync(self, keys: U64, vectors: F32) -> None:
        """Make the index hold exactly ``keys`` (with their rows of ``vectors``)."""
        have = self.keys()
        gone = np.setdiff1d(have, keys, assume_unique=True)
        new = ~np.isin(keys, have, assume_unique=True)
        if len(gone) > len(keys) // 2 and len(have):  # mostly replaced: tombstones would pile up
            self._index.reset()
            self.removed = 0
            gone, new = gone[:0], np.ones(len(keys), dtype=bool)
        if len(gone):
            self._index.remove(gone)
            self.removed += len(gone)
        if new.any():
            self._index.add(keys[new], vectors[new], threads=self.settings.threads)
        self.changes += len(gone) + int(new.sum())

    def compact(self, keys: U64, vectors: F32) -> None:
        """Rebuild the graph from ``keys`` (the index's, with their rows of ``vectors``) when
        keys were removed: usearch's ``remove`` only marks a node, so the removed vectors' bytes
        would otherwise stay in memory and reach a saved file (a forgotten subject's too)."""
        if not self.removed:
            return
        self._index.reset()
        self._index.add(keys, vectors, threads=self.settings.threads)
        self.removed = 0

    def search(self, query: F32, count: int) -> U64:
        """The keys of about ``count`` nearest neighbours of ``query``, nearest first (usearch
        widens its candidate list to ``count`` when that is above ``ef``)."""
        found = self._index.search(query, count, threads=1)
        return np.asarray(found.keys, dtype=np.uint64)

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (a temporary file, then a rename). An index
        with removed keys is refused: :meth:`compact` it first."""
        if self.removed:
            raise StoreError(
                f"HNSW index has {self.removed} removed keys whose vectors would be saved to "
                f"{path}; call compact() with the tenant's current keys and vectors first"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        self._index.save(str(tmp))
        os.replace(tmp, path)
        self.changes = 0

    @classmethod
    def load(cls, path: Path, dim: int, settings: AnnSettings) -> AnnIndex | None:
        """The index saved at ``path``, or None when there is none usable (missing, corrupt,
        or of another dimension): the caller builds a new one."""
        if not path.is_file():
            return None
        try:
            index = _usearch().restore(str(path))
        except (RuntimeError, ValueError, OSError):
            return None
        if index is None or index.ndim != dim:
            return None
        index.expansion_search = settings.ef
        return cls(dim, settings, index)
