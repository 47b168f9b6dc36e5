"""A team run is one durable run: SIGKILL mid-turn, then resume; nothing is done twice."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.test_durable import ROOT, Env

TEAM = str(ROOT / "tests" / "durable_team.yaml")


@pytest.mark.parametrize("point", ["model:1", "tool:1"])
def test_team_run_resumes_after_sigkill_without_repeating_steps(tmp_path: Path, point: str) -> None:
    env = Env(tmp_path, TETHER_TEST_STEPS="2")
    out = env.tether("run", "--agent", TEAM, "bump it", TETHER_TEST_KILL=point)
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr[-2000:])
    run_id = str(env.only_run()["run_id"])
    time.sleep(2.0)  # the dead executor's 1.5 s lease runs out
    resumed = env.tether("runs", "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert env.wait_status(run_id) == "succeeded"
    # each role bumped twice, each effect exactly once (the tool is idempotent by key)
    assert env.lines("effects") == ["0", "1", "0", "1"]
    calls = Counter(env.lines("calls"))
    killed_model = point == "model:1"
    assert calls["model 0"] == 2 and calls["model 2"] == 2
    assert calls["model 1"] == (3 if killed_model else 2)  # only the call in flight reran
    events = env.events(run_id)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    turns = [e["payload"]["role"] for e in events if e["kind"] == "team_turn"]
    assert turns == ["first", "second"]
    assert [e["kind"] for e in events].count("run_finished") == 1
    shown = env.tether("runs", "show", run_id, "--json")
    roles = json.loads(shown.stdout)["costs"]["roles"]
    assert {r: c["model_calls"] for r, c in roles.items()} == {"first": 3, "second": 3}
    assert sum(c["tokens"] for c in roles.values()) == 90


def test_supervisor_team_resumes_after_sigkill_in_a_worker(tmp_path: Path) -> None:
    env = Env(tmp_path, TETHER_TEST_STEPS="1")
    team = str(ROOT / "tests" / "durable_team_supervisor.yaml")
    out = env.tether("run", "--agent", team, "bump twice", TETHER_TEST_KILL="model:1")
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr[-2000:])
    run_id = str(env.only_run()["run_id"])
    time.sleep(2.0)
    resumed = env.tether("runs", "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert env.wait_status(run_id) == "succeeded"
    assert env.lines("effects") == ["0", "0"]  # one bump per worker, none repeated
    calls = Counter(env.lines("calls"))
    assert (calls["model 0"], calls["model 1"]) == (2, 3)  # only the killed call reran
    events = env.events(run_id)
    handoffs = [e["payload"]["to_role"] for e in events if e["kind"] == "handoff"]
    assert handoffs == ["first", "second"]
    (finished,) = [e for e in events if e["kind"] == "run_finished"]
    assert finished["payload"]["output"] == "bumped 1 times; bumped 1 times"
    # every role's model and tool call was a DBOS step of the team's workflow
    import sqlite3

    with sqlite3.connect(tmp_path / "home" / "tether.db") as db:
        steps = dict(
            db.execute(
                "SELECT function_name, count(*) FROM operation_outputs GROUP BY function_name"
            ).fetchall()
        )
    assert steps == {"tether.team.model": 6, "tether.team.tool": 2}
