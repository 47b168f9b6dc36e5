"""`tether run --agent TEAM.yaml`: configuration errors exit 64 and name the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def _tether(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"TETHER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def test_a_bad_team_file_exits_64_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(
        "kind: team\nname: x\nprotocol: supervisor\nroles:\n  - {name: a, agent: {}}\n"
    )
    out = _tether(tmp_path, "run", "--agent", "team.yaml", "go")
    assert out.returncode == 64
    assert "field 'manager'" in out.stderr
    listed = _tether(tmp_path, "runs", "list", "--json")
    assert listed.stdout.strip() == "[]"  # nothing was stored


def test_team_runs_cannot_be_detached_yet(tmp_path: Path) -> None:
    team = str(ROOT / "tests" / "durable_team.yaml")
    out = _tether(tmp_path, "run", "--detach", "--agent", team, "go")
    assert out.returncode == 64
    assert "cannot be queued" in out.stderr
