"""In-process vector search with an HNSW index (usearch): results agree with exact search,
filters stay exact (oversampling, exact fallback), the index is saved and reloaded by another
store, and writes and deletions by another store reach it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sqlalchemy as sa

from tether.memory import Filters, LocalEmbedder, MemoryItem, SemanticStore
from tether.memory.ann import AnnIndex, AnnSettings, item_keys
from tether.memory.backends.inprocess import LocalVectors, filtered_top
from tether.memory.backends.sqlite import SqliteBackend
from tether.memory.vectors import VectorMatrix

SMALL = AnnSettings(min_rows=100, exact_rows=20)
RNG = np.random.default_rng(3)


def _vectors(n: int, dim: int = 384) -> np.ndarray:
    centers = RNG.standard_normal((8, dim)).astype(np.float32)
    v = centers[RNG.integers(0, 8, n)] + 0.7 * RNG.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _fill(store: SemanticStore, n: int, *, tenant: str = "t", offset: int = 0) -> list[str]:
    items = [
        MemoryItem(
            text=f"item {offset + i}",
            source="synthetic",
            start=offset + i,
            scope=("even" if i % 2 == 0 else "odd"),
            subject=("rare" if i % 50 == 0 else None),
        )
        for i in range(n)
    ]
    return store.add(tenant, items, _vectors(n))


def _local(store: SemanticStore) -> LocalVectors:
    assert isinstance(store.backend, SqliteBackend)
    return store.backend.vectors


def _exact(store: SemanticStore, query: np.ndarray, n: int, filters: Filters) -> list[str]:
    matrix = _local(store).matrix("t")
    mask = matrix.mask(filters, store.clock.now().timestamp())
    return [i for i, _ in matrix.top(query, n, mask)]


@pytest.fixture
def ann_store(
    engine: sa.Engine, embedder: LocalEmbedder, tmp_path: Path
) -> tuple[SemanticStore, Path]:
    folder = tmp_path / "ann"
    return SemanticStore(engine, embedder, ann=SMALL, index_dir=folder), folder


def test_index_agrees_with_exact_search_and_filters_hold(
    ann_store: tuple[SemanticStore, Path],
) -> None:
    store, _ = ann_store
    ids = _fill(store, 600)
    by_id = dict(enumerate(ids))
    queries = _vectors(20)
    recall = []
    for q in queries:
        got = [i for i, _ in store.vector_search("t", q, 10)]
        recall.append(len(set(got) & set(_exact(store, q, 10, Filters()))) / 10)
        assert len(got) == 10
    assert _local(store)._tenants["t"].ann is not None  # the index answered
    assert np.mean(recall) >= 0.9
    odd = Filters(scope="odd")  # half the rows: oversampled index search
    for q in queries[:5]:
        got = store.vector_search("t", q, 10, odd)
        assert len(got) == 10
        assert all(ids.index(i) % 2 == 1 for i, _ in got)
        exact = _exact(store, q, 10, odd)
        assert len({i for i, _ in got} & set(exact)) >= 8
    rare = Filters(subject="rare")  # 12 rows <= exact_rows: scored exactly
    for q in queries[:5]:
        got = [i for i, _ in store.vector_search("t", q, 20, rare)]
        assert got == _exact(store, q, 20, rare)
        assert sorted(got) == sorted(by_id[i] for i in range(0, 600, 50))


def test_index_is_saved_and_loaded_by_another_store(
    ann_store: tuple[SemanticStore, Path], engine: sa.Engine, embedder: LocalEmbedder
) -> None:
    store, folder = ann_store
    ids = _fill(store, 300)
    q = _vectors(1)[0]
    first = store.vector_search("t", q, 5)
    saved = list(folder.glob("*.usearch"))
    assert len(saved) == 1
    other = SemanticStore(engine, embedder, ann=SMALL, index_dir=folder)
    assert other.vector_search("t", q, 5) == first
    loaded = _local(other)._tenants["t"].ann
    assert loaded is not None and loaded.changes == 0 and len(loaded) == 300  # loaded, not built
    # writes and deletions by the other store reach this one's index
    new = _fill(other, 50, offset=300)
    store.vector_search("t", q, 5)
    synced = _local(store)._tenants["t"].ann
    assert (
        synced is not None
        and len(synced) == 350
        and set(new) <= set(_local(store)._tenants["t"].matrix.ids)
    )
    kept = [MemoryItem(text=f"new {s}", source="synthetic", scope=s) for s in ("even", "odd")]
    other.add("t", kept, _vectors(2), replace_source=True)
    for v in _vectors(10):
        got = {i for i, _ in store.vector_search("t", v, 10)}
        assert got.isdisjoint(ids + new)  # every synthetic item was replaced
    assert len(_local(store)._tenants["t"].matrix) == 2
    assert _local(store)._tenants["t"].ann is None  # two rows: exact again


def test_a_corrupt_or_foreign_index_file_is_rebuilt(
    ann_store: tuple[SemanticStore, Path], engine: sa.Engine, embedder: LocalEmbedder
) -> None:
    store, folder = ann_store
    ids = _fill(store, 200)
    q = _vectors(1)[0]
    expected = store.vector_search("t", q, 5)
    (path,) = folder.glob("*.usearch")
    path.write_bytes(b"not an index")
    other = SemanticStore(engine, embedder, ann=SMALL, index_dir=folder)
    got = other.vector_search("t", q, 5)
    # an approximate index built again may pick other near-ties (random test vectors): it
    # answers from this tenant's items, as many as asked
    assert len(got) == len(expected) == 5 and {i for i, _ in got} <= set(ids)
    assert AnnIndex.load(path, 384, SMALL) is not None  # rebuilt and saved again
    assert AnnIndex.load(path, 128, SMALL) is None  # another dimension: not used


def test_filtered_top_widens_then_falls_back_to_exact() -> None:
    n = 400
    vectors = _vectors(n)
    ids = [f"id{i}" for i in range(n)]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        SimpleNamespace(
            id=i,
            scope="s",
            subject=None,
            trust="user",
            created_at=t0,
            expires_at=None,
            dim=384,
            embedding=v.tobytes(),
        )
        for i, v in zip(ids, vectors, strict=True)
    ]
    matrix = VectorMatrix.from_rows(rows, 1)
    assert matrix.unique_keys and np.array_equal(matrix.keys, item_keys(ids))
    settings = AnnSettings(min_rows=1, exact_rows=5)
    ann = AnnIndex(384, settings)
    ann.sync(matrix.keys, matrix.vectors)
    q = vectors[7]
    mask = np.zeros(n, dtype=bool)
    mask[[3, 90, 91, 200, 201, 202, 399]] = True  # 7 rows > exact_rows: the index path
    got = filtered_top(matrix, ann, q, 5, mask, settings)
    assert [i for i, _ in got] == [i for i, _ in matrix.top(q, 5, mask)]
    assert filtered_top(matrix, ann, q, 5, np.zeros(n, dtype=bool), settings) == []
    assert filtered_top(matrix, None, q, 3, mask, settings) == matrix.top(q, 3, mask)
    assert matrix.positions(np.array([matrix.keys[5], 12345], dtype=np.uint64)).tolist() == [5]
