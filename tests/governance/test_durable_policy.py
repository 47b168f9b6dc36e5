"""Policy on the durable path: `tether run` (a DBOS workflow) pauses at a high-risk tool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT = """name: wiper
instructions: Wipe records.
model: python:tests.durable_models:model
tools: ["tests.governance.agent_tools:wipe"]
"""


def tether(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "TETHER_HOME": str(tmp / "home"),
        "TETHER_POLICIES": str(tmp / "policies"),
        "TETHER_TEST_EFFECTS": str(tmp / "effects"),
        "TETHER_TEST_TOOL": "wipe",
        "TETHER_TEST_STEPS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=tmp,
    )


def test_a_durable_run_pauses_before_a_high_risk_tool(tmp_path: Path) -> None:
    (tmp_path / "wiper.yaml").write_text(AGENT)
    out = tether(tmp_path, "run", "--agent", str(tmp_path / "wiper.yaml"), "wipe record 0")
    assert out.returncode == 2, out.stdout + out.stderr  # paused
    assert not (tmp_path / "effects").exists()  # the tool never ran
    (run,) = json.loads(tether(tmp_path, "runs", "list", "--json").stdout)
    assert run["status"] == "paused"
    events = json.loads(tether(tmp_path, "runs", "events", run["run_id"], "--json").stdout)
    kinds = [e["kind"] for e in events]
    assert kinds == [
        "run_started",
        "policy_decision",
        "model_request",
        "model_response",
        "budget_charged",
        "policy_decision",
        "approval_requested",
        "run_paused",  # the segment ends; the run is not finished
    ]
    approval = events[6]["payload"]
    assert approval["tool"] == "wipe" and approval["arguments"] == {"n": 0}
    assert approval["reasons"] == ["ladder.high_risk_needs_person"]
    shown = tether(tmp_path, "runs", "show", run["run_id"])
    assert "require approval" in shown.stdout and "never runs unattended" in shown.stdout
