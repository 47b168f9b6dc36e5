"""Acceptance 1 (scripted part) and 4: the golden set passes deterministically through
``tether eval run``, reports as JSON and HTML, and ``--gate`` fails a broken agent version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.evals.helpers import GOLDEN, ROOT, run
from tether.cli.main import app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    return tmp_path


def broken_demo(folder: Path) -> Path:
    """The demo agent with its calculator gone: a deliberately broken version."""
    spec = yaml.safe_load((ROOT / "tether" / "examples" / "demo.yaml").read_text())
    spec["tools"] = [t for t in spec["tools"] if t != "calculator"]
    path = folder / "demo-broken.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_golden_set_passes_with_scripted_models(tmp_path: Path) -> None:
    result = run(GOLDEN, tmp_path)
    failed = [
        (a.case_id, [v.to_json() for v in a.verdicts if not v.passed])
        for a in result.attempts
        if not a.passed
    ]
    assert failed == []
    assert len(result.cases) >= 50 and result.pass_rate == 1.0
    assert {c.case.component for c in result.cases} == {"agent", "tool", "retrieval", "judge"}
    again = run(GOLDEN, tmp_path / "again")  # deterministic: the same calls and answers
    first = [(a.case_id, a.obs.output, [c.tool for c in a.obs.calls]) for a in result.attempts]
    second = [(a.case_id, a.obs.output, [c.tool for c in a.obs.calls]) for a in again.attempts]
    assert first == second


def test_eval_run_cli_gates_and_writes_json_and_html(home: Path) -> None:
    html = home / "report.html"
    out = CliRunner().invoke(
        app, ["eval", "run", str(GOLDEN), "--gate", "--json", "--html", str(html)]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["gate"]["passed"] is True and report["pass_rate"] == 1.0
    assert report["cases"] >= 50 and report["by_tag"]["calc"]["attempts"] >= 20
    page = html.read_text()
    assert page.count("<svg") == 4 and "<script" not in page and "http" not in page.lower()


def test_gate_fails_a_broken_agent_version(home: Path) -> None:
    broken = broken_demo(home)
    out = CliRunner().invoke(
        app, ["eval", "run", str(GOLDEN), "--agent", str(broken), "--gate", "--json"]
    )
    assert out.exit_code == 1, out.output
    report = json.loads(out.stdout)
    assert report["gate"]["passed"] is False
    assert "below the minimum" in report["gate"]["reasons"][0]
    assert report["by_tag"]["calc"]["passed"] == 0
    assert report["by_tag"]["file"]["passed"] == report["by_tag"]["file"]["attempts"]
    components = {f["component"] for f in report["failures"]}
    assert components == {"wrong_tool"}  # the calculator calls name a tool that is gone


def test_gate_against_a_saved_baseline(home: Path) -> None:
    baseline = home / "baseline.json"
    good = CliRunner().invoke(
        app, ["eval", "run", str(GOLDEN), "--tag", "calc", "--save-baseline", str(baseline)]
    )
    assert good.exit_code == 0, good.output
    assert json.loads(baseline.read_text())["pass_rate"] == 1.0
    broken = broken_demo(home)
    args = [
        "eval",
        "run",
        str(GOLDEN),
        "--tag",
        "calc",
        "--agent",
        str(broken),
        "--gate",
        "--min-pass-rate",
        "0",
        "--baseline",
        str(baseline),
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 1
    assert "dropped below the baseline 100.0%" in out.stdout


def test_eval_init_scaffolds_a_dataset_that_runs(home: Path) -> None:
    path = home / "evals" / "mine.yaml"
    out = CliRunner().invoke(app, ["eval", "init", str(path)])
    assert out.exit_code == 0 and path.is_file()
    again = CliRunner().invoke(app, ["eval", "init", str(path)])
    assert again.exit_code == 64 and "exists" in again.output
    ran = CliRunner().invoke(app, ["eval", "run", str(path), "--gate", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["passed"] == 2


def test_repeat_reports_pass_at_k_and_pass_hat_k(home: Path) -> None:
    out = CliRunner().invoke(
        app, ["eval", "run", str(GOLDEN), "--tag", "chat", "--repeat", "3", "--json"]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["attempts"] == 3 * report["cases"]
    assert report["pass_at_k"] == report["pass_hat_k"] == 1.0
    seeds = {a["seed"] for c in report["results"] for a in c["attempts"]}
    assert len(seeds) == report["attempts"]  # a seed per attempt
