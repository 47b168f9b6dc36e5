"""Episodic and profile memory on SQLite and PostgreSQL: writes once, recall by similarity and
recency, policies (expiry, freshness, PII), caps and compaction on a fake clock, delete by
subject, and tenant isolation in every method."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tether.errors import UsageError
from tether.events import (
    Event,
    EventKey,
    Payload,
    RunFinished,
    RunStarted,
    ToolCallFinished,
    ToolCallStarted,
)
from tether.memory import LocalEmbedder
from tether.memory.config import ReadPolicy
from tether.memory.episodic import Episode, EpisodicStore, episode_from_events, episode_id
from tether.memory.lifecycle import compact, expire
from tether.memory.profile import ProfileFull, ProfileStore, profile_id
from tether.store import Store
from tether.testing import FakeClock

DAY = 24 * 3600.0


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


def _events(run_id: str, goal: str, tool: str, output: str, tenant: str = "acme") -> list[Event]:
    def ev(step: int, kind: str, payload: Payload, index: int = 0) -> Event:
        key = EventKey(run_id=run_id, segment=0, step=step, kind=kind, index=index)
        return Event(key=key, payload=payload)

    started = RunStarted(
        goal=goal,
        agent="helper",
        agent_version="v",
        model="scripted",
        tools=[tool],
        limits={},
        tether_version="0",
        tenant=tenant,
        user="alice",
    )
    return [
        ev(0, "run_started", started),
        ev(0, "tool_call_started", ToolCallStarted(
            call_id="c1", tool=tool, arguments={"q": goal[:20]}, idempotency_key="k"
        )),
        ev(0, "tool_call_finished", ToolCallFinished(call_id="c1", tool=tool, ok=True, result=1)),
        ev(1, "run_finished", RunFinished(status="succeeded", output=output)),
    ]  # fmt: skip


def _episode(clock: FakeClock, run_id: str, goal: str, tool: str, **kw: object) -> Episode:
    tenant = str(kw.pop("tenant", "acme"))
    ep = episode_from_events(
        _events(run_id, goal, tool, "done", tenant),
        tenant=tenant,
        agent=str(kw.pop("agent", "helper")),
        subject=kw.pop("subject", "alice"),  # type: ignore[arg-type]
        now=clock.now(),
        ttl_s=kw.pop("ttl_s", None),  # type: ignore[arg-type]
    )
    assert ep is not None
    return ep


def test_episode_from_the_journal_is_written_once(store: Store, embedder: LocalEmbedder) -> None:
    clock = FakeClock()
    episodes = EpisodicStore(store.engine, embedder, clock)
    ep = _episode(clock, "run_1", "convert 3 miles to kilometres", "calculator")
    assert ep.id == episode_id("acme", "run_1") and ep.outcome == "success"
    [action] = ep.actions
    assert action.tool == "calculator" and action.ok
    assert action.result_ref == "run_1/0/0/tool_call_finished/0"
    assert episodes.add(ep) is True
    assert episodes.add(ep) is False  # the same run's episode again: nothing new
    assert [e.id for e in episodes.recent("acme")] == [ep.id]
    got = episodes.get("acme", ep.id)
    assert got is not None and got.task == ep.task and got.actions == ep.actions
    assert got.trust == "tool" and got.subject == "alice"


def test_recall_ranks_by_similarity_then_recency(store: Store, embedder: LocalEmbedder) -> None:
    clock = FakeClock()
    episodes = EpisodicStore(store.engine, embedder, clock)
    old_match = _episode(clock, "r1", "convert 5 miles to kilometres", "calculator")
    episodes.add(old_match)
    clock.advance(30 * DAY)
    unrelated = _episode(clock, "r2", "summarise the quarterly sales report", "read_file")
    new_match = _episode(clock, "r3", "convert 10 miles into kilometres", "calculator")
    episodes.add(unrelated)
    episodes.add(new_match)
    found = episodes.recall("acme", "how many kilometres is 7 miles?", k=3)
    assert [r.episode.id for r in found][:2] == [new_match.id, old_match.id]
    assert found[0].score > found[1].score > found[2].score
    # equal similarity: the newer one wins; the old one's recency has decayed to ~0.05
    assert found[0].similarity > found[2].similarity


def test_recall_filters_agent_subject_expiry_freshness_and_pii(
    store: Store, embedder: LocalEmbedder
) -> None:
    clock = FakeClock()
    episodes = EpisodicStore(store.engine, embedder, clock)
    episodes.add(_episode(clock, "old", "book a train ticket", "book"))
    clock.advance(10 * DAY)
    episodes.add(_episode(clock, "mine", "book a train to Paris", "book"))
    episodes.add(_episode(clock, "other-agent", "book a train to Rome", "book", agent="x"))
    episodes.add(_episode(clock, "bob", "book a train to Oslo", "book", subject="bob"))
    episodes.add(_episode(clock, "nobody", "book a train to Bern", "book", subject=None))
    episodes.add(_episode(clock, "short", "book a train to Bonn", "book", ttl_s=60))
    pii = _episode(clock, "pii", "book a train for bob@example.com", "book")
    assert pii.pii and "email" in pii.labels
    episodes.add(pii)
    clock.advance(120)  # "short" has expired

    def runs(**kw: object) -> set[str]:
        return {r.episode.run_id for r in episodes.recall("acme", "train", k=20, **kw)}  # type: ignore[arg-type]

    assert runs() == {"old", "mine", "other-agent", "bob", "nobody"}
    assert runs(agent="helper", subject="alice") == {"old", "mine"}
    assert runs(agent="helper", subject=None, exact_subject=True) == {"nobody"}
    assert runs(agent="helper", subject="alice", max_age_s=DAY) == {"mine"}
    assert "pii" in runs(allow_pii=True)
    assert episodes.recall("globex", "train", k=20) == []


def test_episodes_written_without_a_vector_are_embedded_by_recall(
    store: Store, embedder: LocalEmbedder
) -> None:
    clock = FakeClock()
    EpisodicStore(store.engine, None, clock).add(_episode(clock, "r1", "water the plants", "x"))
    with pytest.raises(UsageError, match="embedder"):
        EpisodicStore(store.engine, None, clock).recall("acme", "plants")
    found = EpisodicStore(store.engine, embedder, clock).recall("acme", "plants")
    assert [r.episode.run_id for r in found] == ["r1"] and found[0].similarity > 0.3
    # the vector was stored: a second recall embeds only the query
    calls: list[int] = []

    class Counting:
        model = embedder.model

        def embed(self, texts: list[str]) -> object:
            calls.append(len(texts))
            return embedder.embed(texts)

    EpisodicStore(store.engine, Counting(), clock).recall("acme", "plants")  # type: ignore[arg-type]
    assert calls == [1]


def test_profile_set_get_list_scopes_and_provenance(store: Store) -> None:
    clock = FakeClock()
    profile = ProfileStore(store.engine, clock)
    first = profile.set("acme", "alice", "preferences", "format", "PDF", reason="she said")
    clock.advance(5)
    again = profile.set("acme", "alice", "preferences", "format", {"kind": "PDF", "a4": True})
    assert again.id == first.id and again.created_at == first.created_at
    assert again.updated_at > first.updated_at and again.value == {"kind": "PDF", "a4": True}
    profile.set("acme", "alice", "settings", "tz", "Europe/Paris", trust="tool", source="run:r1")
    got = profile.get("acme", "alice", "settings", "tz")
    assert got is not None and got.trust == "tool" and got.source == "run:r1"
    assert [e.key for e in profile.entries("acme", "alice")] == ["format", "tz"]
    assert [e.key for e in profile.entries("acme", "alice", scopes=["settings"])] == ["tz"]
    assert profile.subjects("acme") == ["alice"]
    assert profile.delete("acme", "alice", "settings", "tz") is True
    assert profile.get("acme", "alice", "settings", "tz") is None
    with pytest.raises(UsageError, match="scope"):
        profile.set("acme", "alice", "bad scope!", "k", 1)
    with pytest.raises(UsageError, match="subject"):
        profile.set("acme", "", "preferences", "k", 1)


def test_profile_read_policy_and_size_cap(store: Store) -> None:
    clock = FakeClock()
    profile = ProfileStore(store.engine, clock)
    profile.set("acme", "alice", "contact", "email", "alice@example.com")
    profile.set("acme", "alice", "contact", "brief", "short answers", ttl_s=10)
    clock.advance(DAY)
    profile.set("acme", "alice", "contact", "lang", "fr")
    strict = ReadPolicy(allow_pii=False, max_age_s=3600)
    assert [e.key for e in profile.entries("acme", "alice", read=strict)] == ["lang"]
    assert {e.key for e in profile.entries("acme", "alice")} == {"email", "lang"}
    assert profile.get("acme", "alice", "contact", "email", read=strict) is None
    with pytest.raises(ProfileFull, match="max_profile_keys"):
        profile.set("acme", "alice", "contact", "new", 1, max_keys=3)
    profile.set("acme", "alice", "contact", "lang", "de", max_keys=3)  # an update fits


def test_expire_and_compact_on_a_fake_clock(store: Store, embedder: LocalEmbedder) -> None:
    clock = FakeClock()
    episodes = EpisodicStore(store.engine, None, clock)
    profile = ProfileStore(store.engine, clock)
    for n in range(5):
        episodes.add(_episode(clock, f"r{n}", f"task {n}", "t", ttl_s=DAY if n == 0 else None))
        profile.set("acme", "alice", "p", f"k{n}", n, ttl_s=DAY if n == 0 else None)
        clock.advance(60)
    episodes.add(_episode(clock, "b0", "task b", "t", tenant="globex"))
    assert expire(store.engine, clock.now()).deleted == 0
    clock.advance(DAY)
    expired = expire(store.engine, clock.now())
    assert expired.expired == {
        "episodic": [episode_id("acme", "r0")],
        "profile": [profile_id("acme", "alice", "p", "k0")],
    }
    done = compact(store.engine, clock.now(), max_episodes=2, max_profile_keys=3)
    assert done.expired == {"episodic": [], "profile": []}
    assert set(done.trimmed["episodic"]) == {episode_id("acme", "r1"), episode_id("acme", "r2")}
    assert [e.run_id for e in episodes.recent("acme")] == ["r4", "r3"]
    assert [e.key for e in profile.entries("acme", "alice")] == ["k2", "k3", "k4"]
    assert [e.run_id for e in episodes.recent("globex")] == ["b0"]  # under its cap


def test_delete_by_subject_for_forget(store: Store) -> None:
    clock = FakeClock()
    episodes = EpisodicStore(store.engine, None, clock)
    profile = ProfileStore(store.engine, clock)
    episodes.add(_episode(clock, "a1", "task", "t"))
    episodes.add(_episode(clock, "b1", "task", "t", subject="bob"))
    episodes.add(_episode(clock, "a2", "task", "t", tenant="globex"))
    profile.set("acme", "alice", "p", "k", 1)
    profile.set("globex", "alice", "p", "k", 1)
    assert episodes.delete_subject("acme", "alice") == [episode_id("acme", "a1")]
    assert len(profile.delete_subject("acme", "alice")) == 1
    assert [e.run_id for e in episodes.recent("acme")] == ["b1"]
    assert profile.entries("acme", "alice") == []
    # the same subject in another tenant is another person's data: untouched
    assert [e.run_id for e in episodes.recent("globex")] == ["a2"]
    assert len(profile.entries("globex", "alice")) == 1


def test_tenant_isolation_in_every_method(store: Store, embedder: LocalEmbedder) -> None:
    clock = FakeClock()
    episodes = EpisodicStore(store.engine, embedder, clock)
    profile = ProfileStore(store.engine, clock)
    b_episode = _episode(clock, "b-run", "tenant B's secret merger plan", "t", tenant="globex")
    episodes.add(b_episode)
    profile.set("globex", "alice", "preferences", "codename", "BLUEBIRD")
    # tenant A asks for everything it can name
    assert episodes.recall("acme", "secret merger plan", k=20) == []
    assert episodes.recent("acme") == [] and episodes.get("acme", b_episode.id) is None
    assert episodes.delete_run("acme", "b-run") is False
    assert episodes.delete_subject("acme", "alice") == []
    assert profile.get("acme", "alice", "preferences", "codename") is None
    assert profile.entries("acme", "alice") == [] and profile.subjects("acme") == []
    assert profile.delete("acme", "alice", "preferences", "codename") is False
    assert profile.delete_subject("acme", "alice") == []
    assert compact(store.engine, clock.now(), tenant="acme", max_episodes=1).deleted == 0
    # B's data is all still there
    assert episodes.get("globex", b_episode.id) is not None
    assert profile.get("globex", "alice", "preferences", "codename") is not None
    for call in (
        lambda: episodes.recall("", "x"),
        lambda: episodes.recent(""),
        lambda: profile.entries("", "alice"),
    ):
        with pytest.raises(UsageError, match="tenant"):
            call()


def test_aware_timestamps_round_trip(store: Store) -> None:
    clock = FakeClock(start=datetime(2026, 6, 1, 12, tzinfo=UTC))
    entry = ProfileStore(store.engine, clock).set("acme", "alice", "p", "k", 1, ttl_s=60)
    assert entry.updated_at == clock.now() and entry.updated_at.tzinfo is not None
    assert entry.expires_at is not None and (entry.expires_at - entry.updated_at).seconds == 60
