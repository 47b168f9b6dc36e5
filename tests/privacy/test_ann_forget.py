"""Forget and the saved HNSW index files: after ``forget`` no saved index holds the subject's
vectors (the raw bytes of every file under the index folder are scanned for a planted vector),
and an index that had keys removed is rebuilt before it is saved (usearch keeps removed
vectors' bytes)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from tests.conformance.test_forget import HashEmbedder
from tether.errors import StoreError
from tether.memory import MemoryItem, SemanticStore
from tether.memory.ann import AnnIndex, AnnSettings, item_keys
from tether.memory.ann_files import default_index_dir, index_path
from tether.privacy.forget import forget_subject
from tether.privacy.keys import parse_master_key
from tether.store import make_engine, migrate

MASTER = parse_master_key(base64.b64encode(bytes(range(3, 35))).decode())
SMALL = AnnSettings(min_rows=100, exact_rows=10)
DIM = 64  # the HashEmbedder's model: vectors are given, its dimension must match
RNG = np.random.default_rng(17)


def _unit(n: int) -> np.ndarray:
    v = RNG.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _bf16(vector: np.ndarray) -> bytes:
    """The bytes usearch stores for ``vector`` (bfloat16, rounded to nearest even)."""
    u = vector.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()


def _files_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'memory.db'}")
    migrate(made)
    yield made
    made.dispose()


def _store(engine: sa.Engine) -> SemanticStore:
    return SemanticStore(engine, HashEmbedder(), cache_ttl_s=0, ann=SMALL)


def _fill(store: SemanticStore, jane: int = 5) -> tuple[np.ndarray, list[str]]:
    """300 items of tenant t, the first ``jane`` of subject jane; their vectors and ids."""
    vectors = _unit(300)
    items = [
        MemoryItem(text=f"item {i}", source="s", start=i, subject="jane" if i < jane else None)
        for i in range(300)
    ]
    return vectors, store.add("t", items, vectors)


def test_forget_deletes_the_saved_index_that_holds_the_subjects_vectors(
    engine: sa.Engine, tmp_path: Path
) -> None:
    store = _store(engine)
    vectors, ids = _fill(store)
    planted = _bf16(vectors[2])
    folder = default_index_dir(engine)
    assert folder == tmp_path / "memory.db-ann"
    store.vector_search("t", vectors[2], 5)  # builds the index and saves it
    saved = index_path(folder, "t", HashEmbedder.model)
    assert saved.is_file() and planted in saved.read_bytes()  # the scan finds the vector

    report = forget_subject(engine, MASTER, "t", "jane", vacuum=False)

    assert "deleted 1 saved vector index files" in report.compacted
    assert planted not in _files_bytes(folder)
    fresh = _store(engine)  # another process: rebuilds and saves without jane's rows
    hits = [h for h, _ in fresh.vector_search("t", vectors[2], 5)]
    assert len(hits) == 5 and not set(hits) & set(ids[:5])
    assert saved.is_file() and planted not in _files_bytes(folder)


def test_a_live_store_rebuilds_its_index_before_saving_after_a_forget(
    engine: sa.Engine,
) -> None:
    live = _store(engine)
    vectors, _ = _fill(live, jane=40)
    live.vector_search("t", vectors[0], 5)  # index in memory (and saved)
    forget_subject(engine, MASTER, "t", "jane", vacuum=False)
    folder = default_index_dir(engine)
    assert folder is not None
    # jane's 40 of 300 rows are gone, more than a tenth: the live store's index removes their
    # keys and is saved again (nothing added since, which would reuse the removed slots)
    live.vector_search("t", vectors[100], 5)
    saved = index_path(folder, "t", HashEmbedder.model)
    assert saved.is_file()
    data = saved.read_bytes()
    assert all(_bf16(vectors[i]) not in data for i in range(40))
    assert _bf16(vectors[100]) in data  # others' vectors are still there


def test_an_index_with_removed_keys_is_not_saved_until_compacted(tmp_path: Path) -> None:
    vectors = _unit(200)
    keys = item_keys([f"id{i}" for i in range(200)])
    ann = AnnIndex(DIM, SMALL)
    ann.sync(keys, vectors)
    ann.sync(keys[1:], vectors[1:])  # key 0 removed: its bytes stay in the graph
    with pytest.raises(StoreError, match="compact"):
        ann.save(tmp_path / "x.usearch")
    ann.compact(keys[1:], vectors[1:])
    ann.save(tmp_path / "x.usearch")
    data = (tmp_path / "x.usearch").read_bytes()
    assert _bf16(vectors[0]) not in data and _bf16(vectors[1]) in data
    loaded = AnnIndex.load(tmp_path / "x.usearch", DIM, SMALL)
    assert loaded is not None and len(loaded) == 199
