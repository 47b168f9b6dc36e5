"""`tether run --agent examples/planner.yaml` on the embedded model (SmolLM2-135M), offline:
the plan it writes matches the plan schema, runs, and the run stays within its caps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.test_e2e_local import offline_prefix
from tether import load_agent
from tether.plan.graph import plan_schema
from tether.tools import ToolRegistry

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "examples" / "planner.yaml"
GOAL = "Read orders.txt, then use the calculator to compute 17 * 23 + 4."
BOUNDED = {"succeeded", "max_steps", "no_progress", "budget_exceeded", "failed"}


@pytest.mark.model
def test_the_embedded_model_writes_a_valid_plan_that_runs(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "examples" / "workspace", ws)
    env = os.environ | {
        "TETHER_HOME": str(tmp_path / "home"),
        "TETHER_WORKSPACE": str(ws),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    cli = [sys.executable, "-m", "tether.cli"]
    cmd = [*offline_prefix(), *cli, "run", "--agent", str(AGENT), GOAL, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert out.returncode in (0, 3), out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["status"] in BOUNDED
    agent = load_agent(AGENT)
    assert result["steps"] <= agent.limits.max_steps
    assert result["tool_calls"] <= agent.limits.max_tool_calls
    shown = subprocess.run(
        [*cli, "runs", "events", result["run_id"], "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    events = json.loads(shown.stdout)
    kinds = [e["kind"] for e in events]
    assert kinds[-1] == "run_finished"
    contracts = ToolRegistry(agent.resolved_tools()).contracts()
    assert agent.plan is not None
    schema = Draft202012Validator(plan_schema(contracts, agent.plan.max_plan_steps))
    first = next(e for e in events if e["kind"] == "model_response")
    assert not list(schema.iter_errors(json.loads(first["payload"]["text"])))  # a valid plan
    (created,) = [e["payload"] for e in events if e["kind"] == "plan_created"]
    assert created["accepted"], created["error"]
    waves = [e["payload"] for e in events if e["kind"] == "plan_wave"]
    assert waves, "the accepted plan never ran"
    tools = {c["name"] for w in waves for c in w["calls"]}
    assert tools <= {"calculator", "read_file"}
    finished = [e for e in events if e["kind"] == "tool_call_finished"]
    dispatched = sum(len(w["calls"]) for w in waves)
    # every dispatched call ran, unless the no-progress detector stopped a repeated one
    assert len(finished) == dispatched or (
        result["status"] == "no_progress" and len(finished) < dispatched
    )
    verdicts = [e["payload"]["target"] for e in events if e["kind"] == "critic_verdict"]
    assert set(verdicts) >= {sid for w in waves for sid in w["step_ids"]}
