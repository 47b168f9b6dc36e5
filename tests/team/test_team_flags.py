"""Feature flags in team runs: each role's turn gets the flags of the run's tenant and user
group like a single agent's run (tools, memory writes, autonomy cap), journaled as
``flag_applied`` inside the role's step range (real SQLite)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.team.helpers import role, script, team_runtime
from tether import Runtime, tool
from tether.events import (
    FlagApplied,
    ModelRequested,
    PolicyDecided,
    RunStarted,
    TeamTurn,
    ToolCallFinished,
)
from tether.flags import FlagStore
from tether.memory.config import MemoryConfig, ProfileAccess
from tether.memory.profile import ProfileStore
from tether.team import Team
from tether.testing import answer, call
from tether.types import RunStatus

SENT: list[str] = []


@tool(side_effect="write", sink=False)
def send_note(to: str) -> str:
    """Send a note.

    Args:
        to: the recipient
    """
    SENT.append(to)
    return "sent"


MEMORY = MemoryConfig(profile=ProfileAccess(read=["prefs"], write=["prefs"]))


def _team() -> Team:
    clerk = role("clerk", tools=[send_note, "calculator"])
    clerk = replace(clerk, agent=replace(clerk.agent, memory=MEMORY))
    return Team(name="office", protocol="pipeline", roles=[clerk, role("writer")])


def _turns(rt: Runtime, run_id: str) -> dict[str, range]:
    turns = [e.payload for e in rt.store.journal.read(run_id) if isinstance(e.payload, TeamTurn)]
    return {t.role: range(t.step_base, t.step_base + t.step_cap) for t in turns}


def _events(rt: Runtime, run_id: str, kind: type, steps: range) -> list[Any]:
    return [
        e.payload
        for e in rt.store.journal.read(run_id)
        if isinstance(e.payload, kind) and e.key.step in steps
    ]


async def test_tool_and_memory_flags_apply_to_a_roles_calls(tmp_path: Path) -> None:
    SENT.clear()
    clerk = script(
        call("send_note", to="bob"),
        call("remember_preference", scope="prefs", key="tone", value="short", reason="asked"),
        answer("noted"),
    )
    writer = script(answer("all done"))
    rt = team_runtime(tmp_path, {"clerk": clerk, "writer": writer}, policies=tmp_path / "pol")
    try:
        flags = FlagStore(rt.store.engine)
        flags.set("default", "tool:send_note", "off")
        flags.set("default", "memory_writes", "off")
        result = await rt.run(_team(), "note it", user="alice")
        assert result.status is RunStatus.SUCCEEDED and SENT == []
        steps = _turns(rt, result.run_id)
        applied = _events(rt, result.run_id, FlagApplied, steps["clerk"])
        assert sorted(f.capability for f in applied) == ["memory_writes", "tool:send_note"]
        assert all(f.scope == "tenant:default" for f in applied)
        assert _events(rt, result.run_id, FlagApplied, steps["writer"]) == []  # nothing to change
        refused = _events(rt, result.run_id, ToolCallFinished, steps["clerk"])
        assert [(f.tool, f.ok, (f.error or {}).get("code")) for f in refused] == [
            ("send_note", False, "tool_disabled"),
            ("remember_preference", False, "tool_disabled"),
        ]
        (first, *_) = _events(rt, result.run_id, ModelRequested, steps["clerk"])
        assert "send_note" not in first.tools and "remember_preference" not in first.tools
        assert ProfileStore(rt.store.engine).entries("default", "alice") == []
    finally:
        rt.close()


async def test_memory_tools_reach_a_role_without_flags(tmp_path: Path) -> None:
    clerk = script(
        call("remember_preference", scope="prefs", key="tone", value="short", reason="asked"),
        answer("noted"),
    )
    rt = team_runtime(
        tmp_path, {"clerk": clerk, "writer": script(answer("ok"))}, policies=tmp_path / "pol"
    )
    try:
        result = await rt.run(_team(), "remember that I like short notes", user="alice")
        assert result.status is RunStatus.SUCCEEDED
        (entry,) = ProfileStore(rt.store.engine).entries("default", "alice")
        assert (entry.key, entry.value) == ("tone", "short")
    finally:
        rt.close()


async def test_a_groups_autonomy_cap_sends_a_roles_write_to_a_person(tmp_path: Path) -> None:
    SENT.clear()
    clerk = script(call("send_note", to="bob"), answer("sent"))
    rt = team_runtime(
        tmp_path, {"clerk": clerk, "writer": script(answer("ok"))}, policies=tmp_path / "pol"
    )
    try:
        FlagStore(rt.store.engine).set("default", "autonomy", "read", group="trial")
        result = await rt.run(_team(), "send bob a note", user_group="trial")
        # a team run cannot pause yet: the role's pause for approval ends it in needs_review
        assert result.status is RunStatus.NEEDS_REVIEW and SENT == []
        steps = _turns(rt, result.run_id)["clerk"]
        (cap,) = _events(rt, result.run_id, FlagApplied, steps)
        assert (cap.capability, cap.value, cap.scope) == ("autonomy", "read", "group:default/trial")
        decisions = [
            d for d in _events(rt, result.run_id, PolicyDecided, steps) if d.target == "tool"
        ]
        assert decisions[-1].outcome == "require_approval"
        assert decisions[-1].reasons == ["tether.flag.autonomy"]
        started = rt.store.journal.read(result.run_id, kinds=["run_started"])[0].payload
        assert isinstance(started, RunStarted) and started.user_group == "trial"
        assert rt.store.runs.get(result.run_id).user_group == "trial"
    finally:
        rt.close()
