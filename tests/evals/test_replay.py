"""Replay: a recorded run re-run against its own model and tool results shows no drift; an
agent version that behaves differently shows where it drifted (``tether runs replay``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.agent_helpers import make_runtime, scripted
from tether import Agent
from tether.agent.spec import Limits
from tether.cli.main import app
from tether.evals.replay import ReplayReport, replay_run
from tether.testing import answer, call


def calc_agent(**limits: int) -> Agent:
    return Agent(
        name="calc",
        model="scripted",
        tools=["calculator", "current_datetime"],
        preselect_k=4,
        limits=Limits(**limits),
    )


STEPS = (
    call("calculator", expression="17 * 23"),
    call("calculator", expression="391 + 4"),
    answer("The total is 395."),
)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    rt = make_runtime(tmp_path, scripted(*STEPS))
    try:
        result = rt.run_sync(calc_agent(), "Compute 17 * 23 + 4.")
    finally:
        rt.close()
    return tmp_path, result.run_id


def replay(folder: Path, run_id: str, agent: Agent | None = None) -> ReplayReport:
    rt = make_runtime(folder, scripted())
    try:
        return asyncio.run(replay_run(rt, run_id, agent=agent))
    finally:
        rt.close()


def test_the_same_version_replays_without_drift(recorded: tuple[Path, str]) -> None:
    folder, run_id = recorded
    report = replay(folder, run_id)
    assert report.drift == ()
    assert report.replayed.output == "The total is 395."
    assert [c.tool for c in report.replayed.calls] == ["calculator", "calculator"]
    assert report.replay_id != run_id


def test_a_changed_version_drifts(recorded: tuple[Path, str]) -> None:
    folder, run_id = recorded
    report = replay(folder, run_id, calc_agent(max_tool_calls=1))  # a tighter limit
    drift = report.drift
    assert any(d.startswith("call 2: recorded calculator") for d in drift), drift
    assert any(d.startswith("status: recorded 'succeeded'") for d in drift), drift


def test_runs_replay_cli(recorded: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, run_id = recorded
    monkeypatch.setenv("TETHER_HOME", str(folder / "home"))
    out = CliRunner().invoke(app, ["runs", "replay", run_id[:12], "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["run_id"] == run_id and body["drift"] == []
    assert [c["tool"] for c in body["replayed"]["calls"]] == ["calculator", "calculator"]
