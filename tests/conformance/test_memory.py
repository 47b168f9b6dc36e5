"""The semantic store on each backend: SQLite (FTS5, in-process vectors) and PostgreSQL
(tsvector + GIN, pgvector HNSW): ingest, the three search modes, every filter, tenant
isolation, replacement and writes by another store; plus PostgreSQL's migration 9 (the HNSW
index is what a search uses, rows from before it are backfilled, a server role that cannot
create pgvector still gets a working store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tether.errors import UsageError
from tether.memory import Filters, LocalEmbedder, MemoryItem, SemanticStore, ingest_paths
from tether.memory.backends.postgres import PostgresBackend
from tether.store import MIGRATIONS, make_engine, migrate
from tether.store.memory_search import VECTOR_INDEX
from tether.testing import FakeClock
from tether.testing.postgres import PgServer

FACTS = [
    "The invoice service retries failed payments three times before giving up.",
    "Alice prefers her reports as PDF files sent on Monday mornings.",
    "The staging database is restored from last night's backup every Sunday.",
    "Our office plants are watered on Thursdays by the facilities team.",
]
MODES = ("hybrid", "vector", "fulltext")


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def mem_engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory(mem_engine: sa.Engine, embedder: LocalEmbedder, clock: FakeClock) -> SemanticStore:
    return SemanticStore(mem_engine, embedder, clock=clock, cache_ttl_s=0)


def _items(**kw: object) -> list[MemoryItem]:
    return [MemoryItem(text=t, source=f"facts.md#{i}", start=i, **kw) for i, t in enumerate(FACTS)]  # type: ignore[arg-type]


def test_ingest_then_each_mode_finds_the_passage(memory: SemanticStore, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ops.md").write_text("# Payments\n\n" + FACTS[0] + "\n\n# Office\n\n" + FACTS[3])
    (docs / "people.txt").write_text(FACTS[1])
    report = ingest_paths(memory, "acme", [docs])
    assert (report.files, report.chunks) == (2, 3)
    assert ingest_paths(memory, "acme", [docs]).skipped == 2  # unchanged: not embedded again
    for mode in MODES:
        hits = memory.search("acme", "how many times are payments retried?", k=2, mode=mode)  # type: ignore[arg-type]
        assert FACTS[0] in hits[0].text, mode
        assert hits[0].heading == ("Payments",) and hits[0].source.endswith("ops.md")
        assert set(hits[0].ranks) == ({"vector", "fulltext"} if mode == "hybrid" else {mode})
    hybrid = memory.search("acme", "when are the plants watered?", k=3)
    assert FACTS[3] in hybrid[0].text and hybrid[0].to_json()["origin"] == "retrieval"


def test_vector_scores_are_cosines(memory: SemanticStore, embedder: LocalEmbedder) -> None:
    memory.add("t", _items())
    query = embedder.embed(["office plants watering"])[0]
    found = memory.vector_search("t", query, 4)
    assert [i for i, _ in found][:1] == [_items()[3].item_id("t")]
    vectors = embedder.embed([i.embed_text for i in _items()])
    expected = sorted((float(v @ query) for v in vectors), reverse=True)
    assert [round(s, 4) for _, s in found] == [round(s, 4) for s in expected]


def test_tenants_are_isolated_in_every_api(memory: SemanticStore, embedder: LocalEmbedder) -> None:
    a_ids = memory.add("tenant-a", _items())
    memory.add("tenant-b", [MemoryItem(text="Bob likes green tea.", source="b.md")])
    query = "payment retries invoice"
    for mode in MODES:
        b_hits = memory.search("tenant-b", query, k=10, mode=mode)  # type: ignore[arg-type]
        assert not {h.id for h in b_hits} & set(a_ids)
        assert {h.text for h in b_hits} <= {"Bob likes green tea."}
    qvec = embedder.embed([query])[0]
    assert [i for i, _ in memory.vector_search("tenant-b", qvec, 10)] != []
    assert {i for i, _ in memory.vector_search("tenant-b", qvec, 10)}.isdisjoint(a_ids)
    assert memory.fulltext_search("tenant-b", query, 10) == []
    assert memory.fulltext_search("tenant-a", query, 10)[0] == a_ids[0]
    assert memory.source_ids("tenant-b", "default", "facts.md#0") == set()
    assert memory.count("tenant-a") == 4 and memory.count("tenant-b") == 1
    assert memory.search("tenant-c", query) == []
    assert memory.add("tenant-b", [_items()[0]])[0] not in a_ids  # same text, two items
    with pytest.raises(UsageError, match="tenant"):
        memory.search("", query)


def test_filters_scope_subject_trust_freshness_and_ttl(
    memory: SemanticStore, clock: FakeClock
) -> None:
    memory.add("t", [MemoryItem(text="Deploys happen on Tuesdays.", scope="ops", trust="user")])
    clock.advance(3600)
    memory.add(
        "t",
        [
            MemoryItem(text="Deploys happen on Fridays, says a tool.", scope="ops", trust="tool"),
            MemoryItem(text="Alice deploys on Wednesdays.", scope="team", subject="alice"),
            MemoryItem(text="Deploys are frozen this week.", scope="ops", ttl_s=60),
        ],
    )

    def texts(**kw: object) -> dict[str, set[str]]:
        q, f = "when do deploys happen?", Filters(**kw)  # type: ignore[arg-type]
        return {
            mode: {h.text for h in memory.search("t", q, k=10, mode=mode, filters=f)}  # type: ignore[arg-type]
            for mode in MODES
        }

    def every_mode(got: dict[str, set[str]]) -> set[str]:
        assert len({frozenset(v) for v in got.values()}) == 1, got  # all modes agree
        return got["hybrid"]

    assert every_mode(texts(scope="team")) == {"Alice deploys on Wednesdays."}
    assert every_mode(texts(subject="alice")) == {"Alice deploys on Wednesdays."}
    assert every_mode(texts(trust=frozenset({"tool"}))) == {
        "Deploys happen on Fridays, says a tool."
    }
    user_only = every_mode(texts(trust=frozenset({"user"})))
    assert "Deploys happen on Fridays, says a tool." not in user_only and len(user_only) == 3
    fresh = every_mode(texts(since=clock.now() - timedelta(seconds=10)))
    assert "Deploys happen on Tuesdays." not in fresh and len(fresh) == 3
    assert "Deploys are frozen this week." in every_mode(texts(scope="ops"))
    clock.advance(120)  # the TTL item expires
    assert every_mode(texts(scope="ops")) == {
        "Deploys happen on Tuesdays.",
        "Deploys happen on Fridays, says a tool.",
    }


def test_replacement_and_writes_by_another_store_are_seen(
    mem_engine: sa.Engine, embedder: LocalEmbedder
) -> None:
    reader = SemanticStore(mem_engine, embedder)
    writer = SemanticStore(mem_engine, embedder)
    ids = writer.add("t", _items())
    assert writer.add("t", _items()) == ids and writer.count("t") == 4  # idempotent
    assert reader.search("t", "watering plants", k=1)[0].text == FACTS[3]
    writer.add("t", [MemoryItem(text="Cacti are watered once a month.", source="c")])
    for mode in MODES:
        found = {h.text for h in reader.search("t", "watering plants", k=5, mode=mode)}  # type: ignore[arg-type]
        assert "Cacti are watered once a month." in found, mode
    changed = [MemoryItem(text="The invoice service now retries five times.", source="facts.md#0")]
    writer.add("t", changed, replace_source=True)
    for mode in MODES:
        hits = reader.search("t", "invoice service retries", k=5, mode=mode)  # type: ignore[arg-type]
        assert changed[0].text in {h.text for h in hits} and FACTS[0] not in {h.text for h in hits}


@pytest.mark.parametrize("query", ['"', "NOT AND OR", "(*)", "a:b -c ^d & | !x <->", "", "the of"])
def test_hostile_fulltext_queries_do_not_fail(memory: SemanticStore, query: str) -> None:
    memory.add("t", _items())
    for mode in MODES:
        assert isinstance(memory.search("t", query, mode=mode), list)  # type: ignore[arg-type]


# -- PostgreSQL: migration 9 ----------------------------------------------------------------


def test_pg_search_uses_the_hnsw_index(pg_url: str, embedder: LocalEmbedder) -> None:
    engine = make_engine(pg_url)
    try:
        migrate(engine)
        store = SemanticStore(engine, embedder)
        assert isinstance(store.backend, PostgresBackend) and store.backend.pgvector()
        store.add("t", _items())
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # 4 rows: force the choice
            vec = "[" + ",".join(["0.05"] * 384) + "]"
            plan = conn.exec_driver_sql(
                "EXPLAIN SELECT id FROM tether_memory_chunks WHERE tenant = 't' AND dim = 384 "
                f"ORDER BY CAST(tether_memory_chunks.vec AS vector(384)) <=> '{vec}' LIMIT 5"
            ).all()
            columns = conn.exec_driver_sql(
                "SELECT count(*) FROM tether_memory_chunks WHERE vec IS NOT NULL AND tsv <> ''"
            ).scalar()
        assert VECTOR_INDEX in " ".join(r[0] for r in plan)
        assert columns == 4
    finally:
        engine.dispose()


def test_pg_rows_from_before_migration_9_are_backfilled(
    pg_url: str, embedder: LocalEmbedder
) -> None:
    engine = make_engine(pg_url)
    try:
        migrate(engine, [m for m in MIGRATIONS if m[0] <= 6])
        old = SemanticStore(engine, embedder)
        ids = old.add("t", _items())
        migrate(engine)
        store = SemanticStore(engine, embedder)
        assert isinstance(store.backend, PostgresBackend) and store.backend.pgvector()
        query = embedder.embed(["office plants watering"])[0]
        assert store.vector_search("t", query, 1)[0][0] == ids[3]
        assert store.search("t", "office plants", k=1, mode="fulltext")[0].id == ids[3]
    finally:
        engine.dispose()


def test_pg_without_pgvector_searches_vectors_in_process(
    pg_server: PgServer, embedder: LocalEmbedder
) -> None:
    """A role that may not create the (untrusted) extension, on a database without it."""
    name = "t_novector"
    pg_server._admin(
        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        "DROP ROLE IF EXISTS tether_app",
        "CREATE ROLE tether_app LOGIN",
        f"CREATE DATABASE {name} OWNER tether_app TEMPLATE template0",
    )
    url = pg_server.url(name).replace("postgres@", "tether_app@", 1)
    engine = make_engine(url)
    try:
        migrate(engine)
        store = SemanticStore(engine, embedder)
        assert isinstance(store.backend, PostgresBackend) and not store.backend.pgvector()
        store.add("t", _items())
        for mode in MODES:
            hits = store.search("t", "how often are payments retried?", k=2, mode=mode)  # type: ignore[arg-type]
            assert hits[0].text == FACTS[0], mode
    finally:
        engine.dispose()
        pg_server._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", "DROP ROLE tether_app")
