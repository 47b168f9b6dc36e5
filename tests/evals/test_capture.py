"""A stored run becomes a dataset case with one command, and the case replays it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.agent_helpers import agent, make_runtime, scripted
from tether.cli.main import app
from tether.evals.dataset import load_dataset
from tether.testing import answer, call


def test_a_run_and_a_correction_become_cases_that_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = make_runtime(tmp_path, scripted(call("calculator", expression="6 * 7"), answer("42")))
    try:
        run_id = rt.run_sync(agent(), "Compute 6 * 7.").run_id
    finally:
        rt.close()
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    path = tmp_path / "evals" / "captured.yaml"
    out = CliRunner().invoke(app, ["eval", "add", run_id, str(path), "--id", "six-sevens"])
    assert out.exit_code == 0, out.output
    fixed = ["eval", "add", run_id, str(path), "--id", "fixed", "--correction", "It is 42."]
    assert CliRunner().invoke(app, fixed).exit_code == 0
    again = CliRunner().invoke(app, ["eval", "add", run_id, str(path), "--id", "fixed"])
    assert again.exit_code == 64 and "exists" in again.output
    data = load_dataset(path)
    first, second = data.cases
    assert first.input == "Compute 6 * 7." and first.expect.output == "42"
    assert first.expect.trajectory is not None
    assert first.expect.trajectory.calls[0].args == {"expression": "6 * 7"}
    assert second.expect.output == "It is 42." and "corrected" in second.tags
    ran = CliRunner().invoke(app, ["eval", "run", str(path), "--agent", "assistant", "--json"])
    results = {c["id"]: c["passes"] for c in json.loads(ran.stdout)["results"]}
    assert results == {"six-sevens": 1, "fixed": 0}  # the correction is not what it said
