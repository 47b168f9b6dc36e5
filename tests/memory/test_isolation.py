"""Acceptance 3 (isolation): tenant A's agent cannot read tenant B's memory through any API or
tool. B's data is planted in every tier (semantic chunk, episode, profile of a subject with the
same name as A's user) with a marker; every path A has is tried (the stores' methods, the
search_memory, recall_episodes and read_profile tools in a real run, the CLI commands), A's own
data comes back (so the paths work) and nothing of B's does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from tether import Agent, Runtime
from tether.memory import LocalEmbedder, MemoryItem, SemanticStore
from tether.memory.config import EpisodicPolicy, MemoryConfig, ProfileAccess, ReadPolicy
from tether.memory.episodic import Episode, EpisodicStore, episode_id
from tether.memory.profile import ProfileStore
from tether.memory.tool import search_memory_tool
from tether.settings import Settings
from tether.store import make_engine, migrate
from tether.testing import ScriptedModel, answer, call

A, B = "acme", "globex"
A_MARK, B_MARK = "KESTREL", "BLUEBIRD"


def plant(engine: sa.Engine, embedder: LocalEmbedder) -> None:
    """The same kinds of data for both tenants, about a subject named alice in each."""
    semantic = SemanticStore(engine, embedder, cache_ttl_s=0)
    episodes = EpisodicStore(engine, embedder)
    profile = ProfileStore(engine)
    for tenant, mark in ((A, A_MARK), (B, B_MARK)):
        text = f"The project codename for the launch plan is {mark}."
        semantic.add(tenant, [MemoryItem(text=text, source="plan.md", subject="alice")])
        episodes.add(
            Episode(
                id=episode_id(tenant, f"run-{mark}"),
                tenant=tenant,
                agent="planner",
                subject="alice",
                run_id=f"run-{mark}",
                task=f"name the launch plan project ({mark})",
                actions=(),
                outcome="success",
                status="succeeded",
                notes=f"answer: the codename is {mark}",
                created_at=datetime.now(UTC),
            )
        )
        profile.set(tenant, "alice", "preferences", "codename", mark)


def test_the_stores_return_nothing_of_another_tenant(
    engine: sa.Engine, embedder: LocalEmbedder
) -> None:
    plant(engine, embedder)
    semantic = SemanticStore(engine, embedder, cache_ttl_s=0)
    query = "what is the launch plan codename?"
    seen: list[str] = []
    for mode in ("hybrid", "vector", "fulltext"):
        seen += [h.text for h in semantic.search(A, query, k=20, mode=mode)]  # type: ignore[arg-type]
    b_ids = set(semantic.source_ids(B, "default", "plan.md"))
    qvec = embedder.embed([query])[0]
    assert b_ids.isdisjoint(i for i, _ in semantic.vector_search(A, qvec, 50))
    assert b_ids.isdisjoint(semantic.fulltext_search(A, query, 50))
    assert semantic.source_ids(A, "default", "plan.md").isdisjoint(b_ids)
    assert semantic.count(A) == 1
    episodes = EpisodicStore(engine, embedder)
    seen += [r.episode.notes for r in episodes.recall(A, query, k=20, allow_pii=True)]
    seen += [e.notes for e in episodes.recent(A, limit=100)]
    assert episodes.get(A, episode_id(B, f"run-{B_MARK}")) is None
    profile = ProfileStore(engine)
    seen += [json.dumps(e.value) for e in profile.entries(A, "alice")]
    got = profile.get(A, "alice", "preferences", "codename")
    assert got is not None and got.value == A_MARK
    text = "\n".join(seen)
    assert A_MARK in text and B_MARK not in text


async def test_tenant_a_agent_reads_nothing_of_b_through_its_tools(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    model = ScriptedModel(
        steps=[
            call("search_memory", query="launch plan codename", k=10),
            call("recall_episodes", query="launch plan codename", k=10),
            call("read_profile", scope="preferences"),
            answer("done"),
        ]
    )
    settings = Settings(home=tmp_path / "home", workspace=tmp_path, policies=tmp_path / "p")
    rt = Runtime(settings=settings, models={"scripted": model}, embedder=embedder)
    plant(rt.store.engine, embedder)
    semantic = SemanticStore(rt.store.engine, embedder)
    memory = MemoryConfig(  # the widest read an agent can have
        episodic=EpisodicPolicy(record=False, share="tenant", k=20),
        profile=ProfileAccess(read=["preferences"]),
        read=ReadPolicy(allow_pii=True),
    )
    agent = Agent(
        name="planner",
        model="scripted",
        tools=[search_memory_tool(semantic, A)],
        memory=memory,
        preselect_k=8,
    )
    result = await rt.run(agent, "what is the launch plan codename?", tenant=A, user="alice")
    journal = rt.store.journal.read(result.run_id)
    rt.close()
    results = [e.payload.result for e in journal if e.kind == "tool_call_finished"]
    assert len(results) == 3 and all(r is not None for r in results)
    everything = json.dumps([e.to_json() for e in journal])
    assert A_MARK in everything and B_MARK not in everything
    reads = [e.payload for e in journal if e.kind == "memory_read"]
    assert [r.tier for r in reads] == ["semantic", "episodic", "profile"]
    assert all(len(r.item_ids) == 1 for r in reads)  # A's one item per tier, no more
    assert episode_id(B, f"run-{B_MARK}") not in everything


def tether(db: str, *args: str, tenant: str = A) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"TETHER_DB": db, "TETHER_TENANT": tenant}
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", "memory", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def test_the_cli_shows_tenant_a_nothing_of_b(tmp_path: Path, embedder: LocalEmbedder) -> None:
    db = f"sqlite:///{tmp_path / 'tether.db'}"
    engine = make_engine(db)
    migrate(engine)
    plant(engine, embedder)
    engine.dispose()
    outputs = [
        tether(db, "search", "launch plan codename", "--k", "20", "--json"),
        tether(db, "profile", "list", "alice", "--json"),
        tether(db, "profile", "get", "alice", "preferences", "codename"),
        tether(db, "episodes", "--json"),
        tether(db, "compact", "--max-episodes", "0", "--json"),
        tether(db, "compact", "--max-profile-keys", "1", "--json"),
    ]
    for out in outputs:
        assert out.returncode == 0, out.stderr
    text = "\n".join(o.stdout for o in outputs)
    assert A_MARK in text and B_MARK not in text
    # --tenant names the tenant explicitly, the same way
    assert B_MARK not in tether(db, "profile", "list", "alice", "--tenant", A).stdout
    # the compaction of A (TETHER_TENANT) left B's rows alone
    assert tether(db, "compact", "--max-episodes", "1", "--all-tenants").returncode == 0
    b_side = tether(db, "profile", "get", "alice", "preferences", "codename", tenant=B)
    assert b_side.returncode == 0 and B_MARK in b_side.stdout
    assert B_MARK in tether(db, "episodes", "--json", tenant=B).stdout
    assert A_MARK not in tether(db, "episodes", "--json").stdout  # A's own were compacted
