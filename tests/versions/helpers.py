"""A project folder with one agent in versions, and the CLI as a real process in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

DATASET = """\
name: answers
agent: support
cases:
{cases}
"""
CASE = """\
  - id: q{n}
    input: What is the answer to question {n}?
    expect: {{contains: ["42"]}}
"""


def agent_yaml(model: str, instructions: str = "Answer questions.", evals: bool = True) -> str:
    lines = [
        "name: support",
        f"instructions: {instructions}",
        f"model: python:tests.versions.models:{model}",
        "tools: [calculator]",
        "limits: {max_steps: 3}",
    ]
    if evals:
        lines.append("evals: [evals/answers.yaml]")
    return "\n".join(lines) + "\n"


def make_project(tmp_path: Path, model: str = "good", cases: int = 3) -> Path:
    """agents/support.yaml on ``model`` and its eval dataset; returns the project folder."""
    (tmp_path / "agents").mkdir(exist_ok=True)
    (tmp_path / "agents" / "evals").mkdir(exist_ok=True)
    (tmp_path / "agents" / "support.yaml").write_text(agent_yaml(model))
    body = "".join(CASE.format(n=n) for n in range(cases))
    (tmp_path / "agents" / "evals" / "answers.yaml").write_text(DATASET.format(cases=body))
    return tmp_path


def env(tmp_path: Path) -> dict[str, str]:
    return os.environ | {
        "TETHER_HOME": str(tmp_path / "home"),
        "TETHER_WORKSPACE": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }


def tether(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args],
        capture_output=True,
        text=True,
        env=env(tmp_path),
        timeout=180,
        check=False,
        cwd=tmp_path,
    )


def tether_json(tmp_path: Path, *args: str, code: int = 0) -> Any:
    out = tether(tmp_path, *args, "--json")
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    return json.loads(out.stdout)
