"""AC1 (issue 12): eval-gated promotion, runs before and after show their versions, rollback.

Everything through real `tether` processes on one SQLite file in the project's TETHER_HOME.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.versions.helpers import agent_yaml, make_project, tether, tether_json


def _run_version(tmp_path: Path, goal: str) -> tuple[str, str]:
    result = tether_json(tmp_path, "run", goal, "--agent", "support")
    shown = tether_json(tmp_path, "runs", "show", result["run_id"])
    return result["run_id"], shown["agent_version"]


def test_worse_candidate_is_refused_better_one_promoted_runs_show_versions(
    tmp_path: Path,
) -> None:
    make_project(tmp_path, model="some", cases=4)  # right on 2 of the 4 cases
    first = tether_json(tmp_path, "agents", "promote", "support")
    assert first["passed"] is True and first["current_version"] is None
    v1 = first["candidate_version"]
    assert first["datasets"][0]["candidate"]["pass_rate"] == 0.5
    run1, seen1 = _run_version(tmp_path, "What is the answer?")
    assert seen1 == v1

    (tmp_path / "worse.yaml").write_text(agent_yaml("bad").replace("evals/", "agents/evals/"))
    refused = tether(tmp_path, "agents", "promote", "support", "--file", "worse.yaml")
    assert refused.returncode == 1, refused.stderr
    assert "refused" in refused.stderr and "evidence:" in refused.stderr
    evidence = Path(refused.stderr.rsplit("evidence:", 1)[1].split()[0])
    report = json.loads(evidence.read_text())
    assert report["passed"] is False and report["current_version"] == v1
    verdict = report["datasets"][0]
    assert verdict["candidate"]["pass_rate"] == 0.0 and verdict["current"]["pass_rate"] == 0.5
    assert "dropped below the baseline" in verdict["gate"]["reasons"][0]
    assert len(verdict["candidate"]["runs"]) == 4  # every eval run is a stored run
    shown = tether_json(tmp_path, "agents", "show", "support")
    assert shown["current_version"] == v1
    assert shown["history"][0]["action"] == "refused"
    assert str(evidence) in shown["history"][0]["reason"]

    (tmp_path / "better.yaml").write_text(agent_yaml("good").replace("evals/", "agents/evals/"))
    promoted = tether_json(tmp_path, "agents", "promote", "support", "--file", "better.yaml")
    v2 = promoted["candidate_version"]
    assert promoted["passed"] is True and promoted["current_version"] == v1 and v2 != v1
    assert promoted["datasets"][0]["candidate"]["pass_rate"] == 1.0
    run2, seen2 = _run_version(tmp_path, "What is the answer?")
    assert seen2 == v2  # agents/support.yaml is unchanged: the registry chose the version

    listed = {r["run_id"]: r for r in tether_json(tmp_path, "runs", "list", "--agent", "support")}
    assert listed[run1]["agent_version"] == v1 and listed[run2]["agent_version"] == v2
    assert listed[run2]["tether_version"] == listed[run1]["tether_version"] != ""

    back = tether_json(tmp_path, "agents", "rollback", "support")
    assert back == {"agent": "support", "from_version": v2, "current_version": v1}
    _, seen3 = _run_version(tmp_path, "What is the answer?")
    assert seen3 == v1
    agents = tether_json(tmp_path, "agents", "list")
    assert agents[0]["agent"] == "support" and agents[0]["current_version"] == v1
    assert agents[0]["versions"] == 3  # v1, the refused candidate, v2


def test_promote_refuses_without_evals_and_a_file_of_another_agent(tmp_path: Path) -> None:
    make_project(tmp_path)
    (tmp_path / "plain.yaml").write_text(agent_yaml("good", evals=False))
    out = tether(tmp_path, "agents", "promote", "support", "--file", "plain.yaml")
    assert out.returncode == 64 and "declares no evals" in out.stderr
    (tmp_path / "other.yaml").write_text(agent_yaml("good").replace("support", "other", 1))
    out = tether(tmp_path, "agents", "promote", "support", "--file", "other.yaml")
    assert out.returncode == 64 and "not 'support'" in out.stderr
    out = tether(tmp_path, "agents", "rollback", "support")
    assert out.returncode == 64 and "no current version" in out.stderr
    assert tether_json(tmp_path, "agents", "list") == []
    (tmp_path / "worse.yaml").write_text(agent_yaml("bad").replace("evals/", "agents/evals/"))
    diff = tether_json(tmp_path, "agents", "diff", "agents/support.yaml", "worse.yaml", code=1)
    assert [c["field"] for c in diff["changes"]] == ["model"]  # the same evals file
    assert diff["changes"][0]["after"] == "python:tests.versions.models:bad"
    assert diff["version_a"] != diff["version_b"]
    same = tether(tmp_path, "agents", "diff", "support", "agents/support.yaml")
    assert same.returncode == 0 and "are the same version" in same.stdout
    out = tether(tmp_path, "agents", "show", "support@0000")
    assert out.returncode == 64 and "is not registered" in out.stderr
