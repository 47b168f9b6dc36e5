"""The semantic store on a real SQLite file: hybrid search, filters, tenant isolation, caches."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tether.errors import UsageError
from tether.memory import Filters, LocalEmbedder, MemoryItem, SemanticStore
from tether.testing import FakeClock

FACTS = [
    "The invoice service retries failed payments three times before giving up.",
    "Alice prefers her reports as PDF files sent on Monday mornings.",
    "The staging database is restored from last night's backup every Sunday.",
    "Our office plants are watered on Thursdays by the facilities team.",
]


def _items(**kw: object) -> list[MemoryItem]:
    return [MemoryItem(text=t, source=f"facts.md#{i}", start=i, **kw) for i, t in enumerate(FACTS)]  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["hybrid", "vector", "fulltext"])
def test_each_mode_finds_the_passage(store: SemanticStore, mode: str) -> None:
    store.add("acme", _items())
    hits = store.search("acme", "how many times are payments retried?", k=2, mode=mode)  # type: ignore[arg-type]
    assert hits[0].text == FACTS[0]
    assert hits[0].to_json()["origin"] == "retrieval" and hits[0].trust == "user"
    assert set(hits[0].ranks) == ({"vector", "fulltext"} if mode == "hybrid" else {mode})


def test_tenants_are_isolated_in_every_api(engine: sa.Engine, embedder: LocalEmbedder) -> None:
    store = SemanticStore(engine, embedder, cache_ttl_s=0)
    a_ids = store.add("tenant-a", _items())
    store.add("tenant-b", [MemoryItem(text="Bob likes green tea.", source="b.md")])
    query = "payment retries invoice"
    for mode in ("hybrid", "vector", "fulltext"):
        b_hits = store.search("tenant-b", query, k=10, mode=mode)  # type: ignore[arg-type]
        assert [h.text for h in b_hits] == ["Bob likes green tea."] or (
            mode == "fulltext" and b_hits == []
        )
        assert not {h.id for h in b_hits} & set(a_ids)
    qvec = embedder.embed([query])[0]
    assert {i for i, _ in store.vector_search("tenant-b", qvec, 10)}.isdisjoint(a_ids)
    assert set(store.fulltext_search("tenant-b", query, 10)).isdisjoint(a_ids)
    assert store.source_ids("tenant-b", "default", "facts.md#0") == set()
    assert store.count("tenant-a") == 4 and store.count("tenant-b") == 1
    assert store.search("tenant-c", query) == []
    # the same text stored by two tenants is two items
    b_same = store.add("tenant-b", [_items()[0]])
    assert b_same[0] not in a_ids
    with pytest.raises(UsageError, match="tenant"):
        store.search("", query)


def test_filters_scope_subject_trust_freshness_and_ttl(
    store: SemanticStore, clock: FakeClock
) -> None:
    store.add("t", [MemoryItem(text="Deploys happen on Tuesdays.", scope="ops", trust="user")])
    clock.advance(3600)
    store.add(
        "t",
        [
            MemoryItem(text="Deploys happen on Fridays, says a tool.", scope="ops", trust="tool"),
            MemoryItem(text="Alice deploys on Wednesdays.", scope="team", subject="alice"),
            MemoryItem(text="Deploys are frozen this week.", scope="ops", ttl_s=60),
        ],
    )
    q = "when do deploys happen?"

    def texts(**kw: object) -> set[str]:
        out: set[str] = set()
        for mode in ("hybrid", "vector", "fulltext"):
            hits = store.search("t", q, k=10, mode=mode, filters=Filters(**kw))  # type: ignore[arg-type]
            out |= {h.text for h in hits}
        return out

    assert texts(scope="team") == {"Alice deploys on Wednesdays."}
    assert texts(subject="alice") == {"Alice deploys on Wednesdays."}
    assert "Deploys happen on Fridays, says a tool." not in texts(trust=frozenset({"user"}))
    assert texts(trust=frozenset({"tool"})) == {"Deploys happen on Fridays, says a tool."}
    since = clock.now() - timedelta(seconds=10)
    assert "Deploys happen on Tuesdays." not in texts(since=since)
    assert "Deploys are frozen this week." in texts(scope="ops")
    clock.advance(120)  # the TTL item expires
    assert texts(scope="ops") == {
        "Deploys happen on Tuesdays.",
        "Deploys happen on Fridays, says a tool.",
    }
    with pytest.raises(ValueError, match="trust"):
        Filters(trust=frozenset({"admin"}))  # type: ignore[arg-type]


def test_result_cache_hits_and_is_invalidated_by_writes_to_its_scope(store: SemanticStore) -> None:
    store.add("t", _items(scope="a"))
    store.add("t", [MemoryItem(text="Unrelated note.", scope="b")])
    f = Filters(scope="a")
    first = store.search("t", "payment retries", filters=f)
    assert store.search("t", "  Payment   RETRIES ", filters=f) is first  # canonical key
    store.add("t", [MemoryItem(text="Another unrelated note.", scope="b")])
    assert store.search("t", "payment retries", filters=f) is first  # other scope: still valid
    store.add("t", [MemoryItem(text="Payments are retried with backoff.", scope="a")])
    again = store.search("t", "payment retries", filters=f)
    assert again is not first
    assert "Payments are retried with backoff." in {h.text for h in again}


def test_cache_ttl_expires(store: SemanticStore, clock: FakeClock) -> None:
    store.add("t", _items())
    first = store.search("t", "plants")
    clock.advance(store.results.ttl_s + 1)
    assert store.search("t", "plants") is not first


def test_a_write_by_another_store_is_seen(engine: sa.Engine, embedder: LocalEmbedder) -> None:
    reader = SemanticStore(engine, embedder)
    writer = SemanticStore(engine, embedder)
    writer.add("t", _items())
    assert reader.search("t", "watering plants", k=1)[0].text == FACTS[3]
    writer.add("t", [MemoryItem(text="Cacti are watered once a month.", source="c")])
    assert "Cacti are watered once a month." in {
        h.text for h in reader.search("t", "watering plants", k=5, mode="vector")
    }


def test_writes_are_idempotent_and_sources_replaceable(store: SemanticStore) -> None:
    ids = store.add("t", _items())
    assert store.add("t", _items()) == ids and store.count("t") == 4
    changed = [MemoryItem(text="The invoice service now retries five times.", source="facts.md#0")]
    store.add("t", changed, replace_source=True)
    assert store.count("t") == 4
    hits = store.search("t", "invoice retries", k=1, mode="fulltext")
    assert hits[0].text == changed[0].text


@pytest.mark.parametrize("query", ['"', "NOT AND OR", "(*)", "a:b -c ^d", "", "the of"])
def test_hostile_fulltext_queries_do_not_fail(store: SemanticStore, query: str) -> None:
    store.add("t", _items())
    assert isinstance(store.search("t", query, mode="fulltext"), list)
    assert isinstance(store.search("t", query, mode="hybrid"), list)


def test_bad_arguments_name_the_fix(store: SemanticStore) -> None:
    with pytest.raises(UsageError, match="mode"):
        store.search("t", "x", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="k must"):
        store.search("t", "x", k=0)
