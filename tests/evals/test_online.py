"""Online evaluation: a seeded sample of stored runs is scored by the same checks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.agent_helpers import agent, make_runtime, scripted
from tether.cli.main import app
from tether.evals.online import sample_runs, score_runs
from tether.testing import answer, call


def test_stored_runs_are_sampled_and_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = [call("calculator", expression="6 * 7"), answer("It is 42.")]
    made_up = [call("calculator", expression="6 * 7"), answer("It is 43.")]
    ids = []
    for steps in (good, made_up, good):
        rt = make_runtime(tmp_path, scripted(*steps))
        try:
            ids.append(rt.run_sync(agent(), "Compute 6 * 7.").run_id)
        finally:
            rt.close()
    rt = make_runtime(tmp_path, scripted())
    try:
        sample = sample_runs(rt.store, size=3, seed=1)
        assert sample == sorted(ids) and sample_runs(rt.store, size=2, seed=1) == sample_runs(
            rt.store, size=2, seed=1
        )
        scores = {s.run_id: s for s in asyncio.run(score_runs(rt.store, sample))}
    finally:
        rt.close()
    assert [scores[i].passed for i in ids] == [True, False, True]
    bad = scores[ids[1]]
    assert bad.failure is not None and bad.failure.component == "final_synthesis"
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    out = CliRunner().invoke(app, ["eval", "online", "--sample", "5", "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["runs"] == 3 and body["failures"][0]["component"] == "final_synthesis"
