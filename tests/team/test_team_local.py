"""examples/team.yaml on the real embedded model, offline: a valid, bounded team run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_e2e_local import ROOT, offline_prefix


@pytest.mark.model
def test_example_team_runs_offline_and_is_bounded(tmp_path: Path) -> None:
    env = os.environ | {"TETHER_HOME": str(tmp_path / "home"), "TETHER_WORKSPACE": str(tmp_path)}
    team = str(ROOT / "examples" / "team.yaml")
    cmd = [*offline_prefix(), sys.executable, "-m", "tether.cli", "run", "--agent", team]
    out = subprocess.run(
        [*cmd, "What is 17 * 23 + 4?", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert out.returncode in (0, 3), out.stderr[-2000:]
    result = json.loads(out.stdout)
    shown = subprocess.run(
        [sys.executable, "-m", "tether.cli", "runs", "show", result["run_id"], "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    body = json.loads(shown.stdout)
    roles = body["costs"]["roles"]
    assert set(roles) <= {"solver", "writer"} and "solver" in roles
    tokens = result["usage"]["input_tokens"] + result["usage"]["output_tokens"]
    assert sum(r["tokens"] for r in roles.values()) == tokens
    assert tokens <= 12000 + 4000  # the team budget, plus at most one call's overshoot
    if result["status"] == "succeeded":
        assert set(roles) == {"solver", "writer"} and result["output"]
