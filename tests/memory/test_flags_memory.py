"""Feature flags on memory: with ``memory_writes`` off the memory tools that write are refused
and the finish records no episode; the flags module knows every memory write tool."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tether import Agent, Runtime
from tether.events import FlagApplied
from tether.flags import FlagStore
from tether.flags.apply import MEMORY_WRITE_TOOLS
from tether.memory import LocalEmbedder
from tether.memory.config import EpisodicPolicy, MemoryConfig, ProfileAccess
from tether.memory.episodic import EpisodicStore
from tether.memory.profile import ProfileStore
from tether.memory.tools import MemoryBinding, memory_tools
from tether.settings import Settings
from tether.testing import ScriptedModel, answer, call

MEMORY = MemoryConfig(
    episodic=EpisodicPolicy(),
    profile=ProfileAccess(read=["preferences"], write=["preferences"]),
)


def test_memory_writes_off_refuses_writes_and_records_no_episode(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    model = ScriptedModel(
        steps=[
            call(
                "remember_preference",
                scope="preferences",
                key="report_format",
                value="PDF",
                reason="the user asked for PDF reports",
            ),
            answer("done"),
            answer("ok"),
        ]
    )
    settings = Settings(home=tmp_path / "home", workspace=tmp_path, policies=tmp_path / "pol")
    rt = Runtime(settings=settings, models={"scripted": model}, embedder=embedder)
    try:
        FlagStore(rt.store.engine).set("default", "memory_writes", "off", group="trial")
        agent = Agent(name="helper", model="scripted", tools=["calculator"], memory=MEMORY)
        goal = "save preferences report_format PDF because the user asked for PDF reports"
        result = rt.run_sync(agent, goal, user="alice", user_group="trial")
        events = rt.store.journal.read(result.run_id)
        (finished,) = [e.payload for e in events if e.kind == "tool_call_finished"]
        assert finished.error["code"] == "tool_disabled"  # type: ignore[union-attr]
        assert "memory writes are switched off" in finished.error["message"]  # type: ignore[union-attr]
        assert ProfileStore(rt.store.engine).entries("default", "alice") == []
        assert [e for e in events if e.kind == "memory_written"] == []
        assert EpisodicStore(rt.store.engine, embedder).recent("default") == []
        (flag,) = [e.payload for e in events if isinstance(e.payload, FlagApplied)]
        assert flag.scope == "group:default/trial" and "episode recorded: no" in flag.effect
        # the same agent outside the group writes its episode
        rt.run_sync(agent, "say ok", user="alice")
        assert len(EpisodicStore(rt.store.engine, embedder).recent("default")) == 1
    finally:
        rt.close()


def test_every_memory_tool_that_writes_is_known_to_the_flags(
    engine: sa.Engine, embedder: LocalEmbedder
) -> None:
    binding = MemoryBinding(tenant="t", agent="a", subject="s", run_id="r")
    episodes = EpisodicStore(engine, embedder)
    tools = memory_tools(MEMORY, binding, episodes=episodes, profile=ProfileStore(engine))
    writes = {t.name for t in tools if t.contract.side_effect != "read"}
    assert writes and writes <= MEMORY_WRITE_TOOLS
