"""The CLI as a user runs it: a real subprocess, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent_helpers import agent, make_runtime, scripted
from tether.testing import answer, call


def tether(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"TETHER_HOME": str(tmp_path / "home"), "TETHER_WORKSPACE": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


@pytest.fixture
def finished_run(tmp_path: Path) -> str:
    model = scripted(call("calculator", expression="6*7"), answer("The answer is 42."))
    rt = make_runtime(tmp_path, model)
    result = rt.run_sync(agent(), "What is 6*7?")
    rt.close()
    return result.run_id


def test_runs_list_show_and_events(tmp_path: Path, finished_run: str) -> None:
    listed = tether(tmp_path, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["run_id"] for r in rows] == [finished_run]
    assert rows[0]["status"] == "succeeded"

    shown = tether(tmp_path, "runs", "show", finished_run[:12])
    assert shown.returncode == 0, shown.stderr
    assert "calculator" in shown.stdout and "42" in shown.stdout

    events = tether(tmp_path, "runs", "events", finished_run, "--json")
    assert events.returncode == 0, events.stderr
    parsed = json.loads(events.stdout)
    assert parsed[0]["kind"] == "run_started"
    assert [e["seq"] for e in parsed] == sorted(e["seq"] for e in parsed)
    started = [e for e in parsed if e["kind"] == "tool_call_started"][0]
    assert started["payload"]["arguments"] == {"expression": "6*7"}
    assert any(e["kind"] == "model_request" and e["payload"]["messages"] for e in parsed)


def test_unknown_run_is_a_usage_error(tmp_path: Path, finished_run: str) -> None:
    out = tether(tmp_path, "runs", "show", "run_doesnotexist")
    assert out.returncode == 64
    assert "no run" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "hi", "--model", "bogus:thing"], "bogus:thing"),
        (["run", "hi", "--agent", "missing.yaml"], "missing.yaml"),
        (["run", "hi", "--agent", "broken.yaml"], "broken.yaml"),
        (["run", "hi", "--agent", "nosuchagent"], "nosuchagent"),
    ],
)
def test_configuration_errors_exit_64_with_one_line(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    out = tether(tmp_path, *args)
    assert out.returncode == 64, out.stdout + out.stderr
    assert needle in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    # nothing half-made is left behind: every stored run is displayable
    listed = tether(tmp_path, "runs", "list", "--json")
    assert listed.returncode == 0
    for row in json.loads(listed.stdout):
        assert tether(tmp_path, "runs", "show", row["run_id"]).returncode == 0


def test_tools_list(tmp_path: Path) -> None:
    out = tether(tmp_path, "tools", "list", "--json")
    assert out.returncode == 0, out.stderr
    names = {t["name"] for t in json.loads(out.stdout)}
    assert {"calculator", "current_datetime", "read_file"} <= names
    for t in json.loads(out.stdout):
        assert t["input_schema"]["additionalProperties"] is False
