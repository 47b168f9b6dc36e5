"""pgvector's HNSW settings on a real PostgreSQL: the store's ``hnsw.ef_search`` reaches the
server in the search's own transaction (and only there), and migration 20 rebuilds an index of
migration 9's default build parameters with tether's."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tether.errors import ConfigError
from tether.memory import LocalEmbedder, MemoryItem, SemanticStore
from tether.memory.ann import AnnSettings
from tether.store import make_engine, migrate
from tether.store.memory_hnsw import (
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    index_options,
    tune_vector_index,
)
from tether.store.memory_search import TABLE, VECTOR_INDEX

TEXTS = [
    "The invoice service retries failed payments three times before giving up.",
    "Alice prefers her reports as PDF files sent on Monday mornings.",
    "Our office plants are watered on Thursdays by the facilities team.",
]
WANTED = {f"m={HNSW_M}", f"ef_construction={HNSW_EF_CONSTRUCTION}"}


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


def _items() -> list[MemoryItem]:
    return [MemoryItem(text=t, source=f"f.md#{i}", start=i) for i, t in enumerate(TEXTS)]


def test_ef_search_reaches_the_query_for_its_transaction_only(
    pg_url: str, embedder: LocalEmbedder
) -> None:
    engine = make_engine(pg_url)
    seen: list[tuple[Any, ...]] = []

    def spy(conn: sa.Connection, cursor: Any, statement: str, *_: Any) -> None:
        if "<=>" in statement:  # the vector search: read the settings it ran under
            with cursor.connection.cursor() as cur:
                cur.execute(
                    "SELECT current_setting('hnsw.ef_search'), "
                    "current_setting('hnsw.iterative_scan')"
                )
                seen.append(tuple(cur.fetchone()))

    try:
        migrate(engine)
        store = SemanticStore(engine, embedder, cache_ttl_s=0, ann=AnnSettings(pg_ef_search=321))
        ids = store.add("t", _items())
        sa.event.listen(engine, "after_cursor_execute", spy)
        query = embedder.embed(["when are the plants watered?"])[0]
        hits = store.vector_search("t", query, 2)
        store.vector_search("t", query, 250)  # asks more rows than ef: 2 x 250
        sa.event.remove(engine, "after_cursor_execute", spy)
        with engine.connect() as conn:  # the pool's connection, pgvector loaded
            conn.exec_driver_sql("SELECT '[1,2]'::vector <=> '[1,3]'::vector")
            after = conn.exec_driver_sql("SHOW hnsw.ef_search").scalar()
    finally:
        engine.dispose()
    assert seen == [("321", "strict_order"), ("500", "strict_order")]
    assert hits[0][0] == ids[2]
    assert after == "40"  # pgvector's default: the search's SET LOCAL ended with it


def test_default_ef_search_is_used_and_capped(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        store = SemanticStore(engine, LocalEmbedder(), cache_ttl_s=0)
        backend: Any = store.backend
        assert backend.ef_search(10) == AnnSettings().pg_ef_search
        assert backend.ef_search(5000) == 1000  # pgvector's limit
    finally:
        engine.dispose()


@pytest.mark.parametrize("bad", [0, 1001])
def test_out_of_range_ef_search_is_refused_naming_the_field(bad: int) -> None:
    with pytest.raises(ConfigError, match="pg_ef_search"):
        AnnSettings(pg_ef_search=bad)


def test_migration_20_rebuilds_a_default_index(pg_url: str, embedder: LocalEmbedder) -> None:
    engine = make_engine(pg_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            fresh = index_options(conn)
        store = SemanticStore(engine, embedder, cache_ttl_s=0)
        ids = store.add("t", _items())
        with engine.begin() as conn:  # the index as migration 9 built it (pgvector defaults)
            conn.exec_driver_sql(f"DROP INDEX {VECTOR_INDEX}")
            conn.exec_driver_sql(
                f"CREATE INDEX {VECTOR_INDEX} ON {TABLE} "
                "USING hnsw ((vec::vector(384)) vector_cosine_ops) WHERE dim = 384"
            )
            old = index_options(conn)
            tune_vector_index(conn)
            rebuilt = index_options(conn)
            tune_vector_index(conn)  # already tuned: nothing to do
            again = index_options(conn)
        query = embedder.embed(["how often are payments retried?"])[0]
        top = store.vector_search("t", query, 1)
    finally:
        engine.dispose()
    assert fresh == WANTED
    assert old == set()
    assert rebuilt == again == WANTED
    assert top[0][0] == ids[0]
