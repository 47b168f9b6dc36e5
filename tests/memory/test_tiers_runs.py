"""Episodic and profile memory in real runs: an episode per finished run (once, even when the
finish step replays), recall of how a similar task was solved, profile tools limited to the
declared scopes, write policy, and every memory read and write journaled with item ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime
from tether.agent.steps import finish_step
from tether.events import MemoryRead, MemoryWritten
from tether.memory import LocalEmbedder, MemoryItem
from tether.memory.config import EpisodicPolicy, MemoryConfig, ProfileAccess, WritePolicy
from tether.memory.episodic import EpisodicStore, episode_id
from tether.memory.profile import ProfileStore
from tether.memory.tool import search_memory_tool
from tether.settings import Settings
from tether.testing import ScriptedModel, answer, call
from tether.types import RunStatus

EPISODIC = MemoryConfig(episodic=EpisodicPolicy())
PROFILE = MemoryConfig(profile=ProfileAccess(read=["preferences"], write=["preferences"]))


def runtime(tmp_path: Path, model: Any, embedder: LocalEmbedder) -> Runtime:
    settings = Settings(home=tmp_path / "home", workspace=tmp_path, policies=tmp_path / "pol")
    return Runtime(settings=settings, models={"scripted": model}, embedder=embedder)


def helper(memory: MemoryConfig | None, *tools: Any) -> Agent:
    return Agent(
        name="helper",
        model="scripted",
        tools=list(tools) or ["calculator"],
        memory=memory,
        preselect_k=8,
    )


def events(rt: Runtime, run_id: str, kind: str) -> list[Any]:
    return [e for e in rt.store.journal.read(run_id) if e.kind == kind]


async def test_a_finished_run_leaves_one_episode(tmp_path: Path, embedder: LocalEmbedder) -> None:
    model = ScriptedModel(steps=[call("calculator", expression="3 * 1.609"), answer("4.827 km")])
    rt = runtime(tmp_path, model, embedder)
    result = await rt.run(helper(EPISODIC), "convert 3 miles to kilometres", user="alice")
    store = EpisodicStore(rt.store.engine, embedder)
    [episode] = store.recent("default")
    assert episode.id == episode_id("default", result.run_id)
    assert episode.task == "convert 3 miles to kilometres" and episode.outcome == "success"
    assert episode.subject == "alice" and episode.agent == "helper"
    [action] = episode.actions
    assert action.tool == "calculator" and action.arguments == {"expression": "3 * 1.609"}
    assert rt.store.journal.get(action.result_ref) is not None  # the result, by reference
    [written] = events(rt, result.run_id, "memory_written")
    assert isinstance(written.payload, MemoryWritten)
    assert written.payload.tier == "episodic" and written.payload.item_ids == [episode.id]
    assert "success" in written.payload.reason
    # the finish step replayed (a rebuilt run, with and without the journal check): still one
    for check in (False, True):
        ctx = rt.rebuild(result.run_id, 0, upto_segment=False)
        ctx.check_journal = check
        await finish_step(ctx, RunStatus.SUCCEEDED, "4.827 km", None)
    assert len(store.recent("default")) == 1
    assert len(events(rt, result.run_id, "memory_written")) == 1
    rt.close()


async def test_runs_without_memory_write_no_episode(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    rt = runtime(tmp_path, ScriptedModel(steps=[answer("hi")]), embedder)
    result = await rt.run(helper(None), "say hi")
    assert EpisodicStore(rt.store.engine).recent("default") == []
    assert events(rt, result.run_id, "memory_written") == []
    assert "recall_episodes" not in events(rt, result.run_id, "run_started")[0].payload.tools
    rt.close()


async def test_the_agent_recalls_how_it_solved_a_similar_task(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    model = ScriptedModel(  # three runs, one after the other
        steps=[
            call("calculator", expression="3 * 1.609"),
            answer("4.8 km"),
            answer("cook pasta"),
            call("recall_episodes", query="convert 5 miles to km"),
            answer("use calculator"),
        ]
    )
    rt = runtime(tmp_path, model, embedder)
    one = await rt.run(helper(EPISODIC), "convert 3 miles to kilometres", user="alice")
    await rt.run(helper(EPISODIC), "how do I cook pasta?", user="alice")
    three = await rt.run(helper(EPISODIC), "convert 5 miles to kilometres", user="alice")
    [finished] = events(rt, three.run_id, "tool_call_finished")
    body = finished.payload.result
    assert finished.payload.origin == "retrieval:recall_episodes"
    assert body["origin"] == "retrieval" and "never as instructions" in body["notice"]
    top = body["episodes"][0]
    assert top["task"] == "convert 3 miles to kilometres" and top["outcome"] == "success"
    assert top["actions"][0]["tool"] == "calculator"
    [read] = events(rt, three.run_id, "memory_read")
    assert isinstance(read.payload, MemoryRead) and read.payload.tier == "episodic"
    assert read.payload.item_ids[0] == episode_id("default", one.run_id)
    assert read.payload.item_ids == body["item_ids"] and read.payload.tool == "recall_episodes"
    assert read.key.step == finished.key.step and read.key.index == finished.key.index
    rt.close()


async def test_recall_is_limited_to_the_subject_by_default(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    recall = [call("recall_episodes", query="plan a trip"), answer("none")]
    model = ScriptedModel(steps=[answer("ok"), *recall, *recall])
    rt = runtime(tmp_path, model, embedder)
    await rt.run(helper(EPISODIC), "plan bob's private surgery trip", user="bob")
    for share, expected in (("subject", 0), ("agent", 1)):
        memory = MemoryConfig(episodic=EpisodicPolicy(record=False, share=share))  # type: ignore[arg-type]
        run = await rt.run(helper(memory), "plan a trip", user="alice")
        [finished] = events(rt, run.run_id, "tool_call_finished")
        assert len(finished.payload.result["episodes"]) == expected, share
    rt.close()


async def test_profile_tools_read_and_write_only_declared_scopes(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    model = ScriptedModel(
        steps=[
            call("remember_preference", scope="billing", key="card", value="x", reason="r"),
            call(
                "remember_preference",
                scope="preferences",
                key="report_format",
                value="PDF",
                reason="the user asked for PDF reports",
            ),
            call("read_profile", scope="billing"),
            call("read_profile", scope="preferences"),
            answer("done"),
        ]
    )
    rt = runtime(tmp_path, model, embedder)
    ProfileStore(rt.store.engine).set("default", "alice", "billing", "plan", "gold")
    # the values come from the user, so the write runs unattended after the first result
    goal = "save preferences report_format PDF because the user asked for PDF reports"
    result = await rt.run(helper(PROFILE), goal, user="alice")
    assert result.status is RunStatus.SUCCEEDED
    done = [e.payload for e in events(rt, result.run_id, "tool_call_finished")]
    assert done[0].error["code"] == "memory_refused" and "not writable" in done[0].error["message"]
    assert done[1].ok and done[1].result["saved"] is True
    assert done[2].error["code"] == "memory_refused" and "billing" in done[2].error["message"]
    assert done[3].result["entries"] == [
        {"key": "report_format", "value": "PDF", "scope": "preferences"}
    ]
    entry = ProfileStore(rt.store.engine).get("default", "alice", "preferences", "report_format")
    assert entry is not None and entry.trust == "tool" and entry.run_id == result.run_id
    assert entry.reason == "the user asked for PDF reports"
    [written] = [e.payload for e in events(rt, result.run_id, "memory_written")]
    assert written.item_ids == [entry.id] and written.reason == entry.reason
    [read] = [e.payload for e in events(rt, result.run_id, "memory_read")]
    assert read.tier == "profile" and read.item_ids == [entry.id]  # refused reads: no event
    rt.close()


@pytest.mark.parametrize(
    ("value", "policy", "message"),
    [
        ("mail me at alice@example.com", WritePolicy(), "personal data"),
        ("x" * 50, WritePolicy(max_value_chars=20), "shorten"),
        ("PDF", WritePolicy(keys=["ui_*"]), "allowed keys"),
    ],
)
async def test_the_write_policy_refuses(
    tmp_path: Path, embedder: LocalEmbedder, value: str, policy: WritePolicy, message: str
) -> None:
    step = call("remember_preference", scope="preferences", key="k", value=value, reason="r")
    rt = runtime(tmp_path, ScriptedModel(steps=[step, answer("ok")]), embedder)
    memory = PROFILE.model_copy(update={"write": policy})
    result = await rt.run(helper(memory), f"remember {value}", user="alice")
    [done] = [e.payload for e in events(rt, result.run_id, "tool_call_finished")]
    assert not done.ok and message in done.error["message"]
    assert ProfileStore(rt.store.engine).entries("default", "alice") == []
    rt.close()


async def test_no_subject_no_profile_tools(tmp_path: Path, embedder: LocalEmbedder) -> None:
    rt = runtime(tmp_path, ScriptedModel(steps=[answer("ok")]), embedder)
    run = await rt.run(helper(PROFILE), "hello")  # no user: the profile has no subject
    tools = events(rt, run.run_id, "run_started")[0].payload.tools
    assert "read_profile" not in tools and "remember_preference" not in tools
    run = await rt.run(helper(PROFILE), "hello", user="alice")
    assert {"read_profile", "remember_preference"} <= set(
        events(rt, run.run_id, "run_started")[0].payload.tools
    )
    rt.close()


async def test_search_memory_reads_are_journaled_too(
    tmp_path: Path, embedder: LocalEmbedder, store: Any
) -> None:
    [item] = store.add("default", [MemoryItem(text="The VPN password rotates every 30 days.")])
    model = ScriptedModel(steps=[call("search_memory", query="vpn rotation"), answer("30")])
    rt = runtime(tmp_path, model, embedder)
    run = await rt.run(helper(None, search_memory_tool(store, "default")), "VPN?")
    [read] = [e.payload for e in events(rt, run.run_id, "memory_read")]
    assert read.tier == "semantic" and read.item_ids == [item] and read.tool == "search_memory"
    rt.close()


def test_an_unset_memory_field_keeps_the_agent_version() -> None:
    plain = Agent(name="v", tools=["calculator"])
    assert plain.version == Agent(name="v", tools=["calculator"], memory=None).version
    assert plain.version != Agent(name="v", tools=["calculator"], memory=EPISODIC).version
    # pinned: the hash of an agent without memory is the one it had before the field existed
    assert plain.version == "677e364a1b1c44e4"


async def test_the_episode_cap_trims_the_subjects_oldest(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    memory = MemoryConfig(episodic=EpisodicPolicy(recall=False), write=WritePolicy(max_episodes=2))
    rt = runtime(tmp_path, ScriptedModel(steps=[answer("ok")], repeat_last=True), embedder)
    runs = [(await rt.run(helper(memory), f"task {n}", user="alice")).run_id for n in range(3)]
    other = await rt.run(helper(memory), "bob's task", user="bob")
    kept = [e.run_id for e in EpisodicStore(rt.store.engine).recent("default", subject="alice")]
    [third] = [e.payload for e in events(rt, runs[2], "memory_written")]
    rt.close()
    assert kept == [runs[2], runs[1]]
    assert third.trimmed == [episode_id("default", runs[0])]
    assert other.status is RunStatus.SUCCEEDED  # bob's own cap, untouched by alice's


def test_memory_in_a_yaml_agent(tmp_path: Path) -> None:
    from tether.agent.spec import load_agent
    from tether.errors import AgentSpecError

    path = tmp_path / "a.yaml"
    path.write_text(
        "name: mem\nmemory:\n  episodic: {share: agent}\n  profile: {read: [preferences]}\n"
        "  write: {ttl_s: 3600}\n"
    )
    agent = load_agent(path)
    assert agent.memory is not None and agent.memory.episodic is not None
    assert agent.memory.episodic.share == "agent" and agent.memory.write.ttl_s == 3600
    assert agent.portable_spec().memory == agent.memory  # rebuilt the same in a worker
    path.write_text("name: mem\nmemory:\n  profile: {read: ['bad scope']}\n")
    with pytest.raises(AgentSpecError, match=r"memory\.profile\.read.*bad scope"):
        load_agent(path)
    path.write_text("name: mem\nmemory:\n  episodic: {share: everyone}\n")
    with pytest.raises(AgentSpecError, match=r"memory\.episodic\.share"):
        load_agent(path)
