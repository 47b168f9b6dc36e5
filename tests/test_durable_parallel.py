"""Parallel and batched tool calls in durable runs (DBOS steps in a real `tether` process):
concurrent steps are numbered deterministically, and a crash after a batch's effects is
resumed without repeating them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.test_durable import Env


def agent_file(tmp: Path, pay: str) -> str:
    path = tmp / "parallel.yaml"
    path.write_text(
        "name: parallel\nmodel: python:tests.durable_parallel:model\n"
        f"tools: ['tests.durable_parallel:probe', 'tests.durable_parallel:{pay}']\n"
        "preselect_k: 8\nlimits: {max_steps: 5, max_tool_calls: 10}\n"
    )
    return str(path)


def test_durable_run_with_parallel_reads_and_a_batch(tmp_path: Path) -> None:
    env = Env(tmp_path)
    out = env.tether("run", "--agent", agent_file(tmp_path, "pay_many"), "pay", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["status"] == "succeeded"
    assert env.lines("calls") == ["batch 3"]
    assert env.lines("effects") == ["0", "1", "2"]
    finished = [
        e for e in env.events(str(env.only_run()["run_id"])) if e["kind"] == "tool_call_finished"
    ]
    results = {e["index"]: e["payload"]["result"] for e in finished}
    assert results == {
        0: "probe 0 met its peer",
        1: "probe 1 met its peer",
        2: {"n": 0},
        3: {"n": 1},
        4: {"n": 2},
    }


@pytest.mark.parametrize(("pay", "dedupe"), [("pay_many", "0"), ("pay_many_keyed", "1")])
def test_crash_after_a_batch_never_repeats_its_effects(
    tmp_path: Path, pay: str, dedupe: str
) -> None:
    env = Env(tmp_path, TETHER_TEST_TOOL=pay, TETHER_TEST_DEDUPE=dedupe)
    crashed = env.tether(
        "run", "--agent", agent_file(tmp_path, pay), "pay", TETHER_TEST_KILL="batch"
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    run_id = str(env.only_run()["run_id"])
    time.sleep(2.0)  # the dead executor's lease expires
    resumed = env.tether("runs", "resume", run_id, "--json")
    record = json.loads(resumed.stdout)
    assert env.lines("effects") == ["0", "1", "2"]  # each effect once
    if pay == "pay_many":  # not idempotent, no reconcile: a person decides
        assert resumed.returncode == 2, resumed.stderr[-2000:]
        assert record["status"] == "needs_review"
        assert env.lines("calls") == ["batch 3"]
        return
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert record["status"] == "succeeded"
    assert env.lines("calls") == ["batch 3", "batch 3"]  # re-sent with the same keys


def test_a_resumed_run_reconnects_its_agents_mcp_servers(tmp_path: Path) -> None:
    env = Env(tmp_path)
    path = tmp_path / "mcp.yaml"
    server = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]
    path.write_text(
        "name: clock\nmodel: python:tests.durable_parallel:mcp_model\npreselect_k: 8\n"
        f"mcp: [{{command: {json.dumps(server)}}}]\n"
    )
    crashed = env.tether("run", "--agent", str(path), "time", TETHER_TEST_KILL="mcp-model:1")
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    run_id = str(env.only_run()["run_id"])
    time.sleep(2.0)  # the dead executor's lease expires
    resumed = env.tether("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    finished = [e["payload"] for e in env.events(run_id) if e["kind"] == "tool_call_finished"]
    assert [(p["tool"], p["ok"]) for p in finished] == [
        ("get_current_time", True),
        ("convert_time", True),  # called by the process that resumed the run
    ]
