"""Acceptance 1 (embedded-model part): the golden set's `local` sample runs on the real
embedded model (scripts ignored) and is gated against the committed baseline
(evals/baseline-local.json, written by `python bench/evals.py --save-baseline`): a regression
gate, since a 135M model's absolute pass rate is low."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.evals.helpers import GOLDEN, ROOT
from tether.cli.main import app

BASELINE = ROOT / "evals" / "baseline-local.json"


@pytest.mark.model
def test_local_sample_meets_its_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    saved = json.loads(BASELINE.read_text())
    assert saved["model"] == "local:smollm2" and saved["cases"] >= 5
    args = [
        "eval",
        "run",
        str(GOLDEN),
        "--tag",
        "local",
        "--no-scripts",
        "--model",
        "local:smollm2",
        "--concurrency",
        "2",
        "--gate",
        "--min-pass-rate",
        "0",
        "--baseline",
        str(BASELINE),
        "--max-drop",
        "0.15",
        "--json",
    ]  # one case of slack out of seven
    out = CliRunner().invoke(app, args)
    report = json.loads(out.stdout)
    assert report["model"] == "local:smollm2" and report["cases"] == saved["cases"]
    runs = [a for c in report["results"] for a in c["attempts"]]
    assert all(a["run_id"].startswith("run_") and a["steps"] >= 1 for a in runs)
    assert out.exit_code == 0, report["gate"]
    assert report["gate"]["baseline"] == saved["pass_rate"]
