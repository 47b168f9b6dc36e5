"""The chaos suite (issue 10, acceptance 2): every scenario's run reaches a terminal state
with the right status and no lost or duplicated side effect, under tool timeouts, 429s with
Retry-After, 5xx, malformed and oversize responses (a real server on 127.0.0.1), model errors
and invalid model output, and SIGKILL of the process running the run (real processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tether.errors import UsageError
from tether.evals.chaos import FAULTS, ChaosOutcome, ChaosReport, run_chaos, scenarios
from tether.evals.suites import gate, run_suite
from tether.types import RunStatus


async def test_the_chaos_suite_recovers_from_every_fault(tmp_path: Path) -> None:
    report = await run_chaos(tmp_path)
    assert [o.scenario for o in report.failures] == [], [o.to_json() for o in report.failures]
    assert report.recovery_rate == 1.0
    assert {o.fault for o in report.outcomes} == set(FAULTS)  # every kind of fault injected
    assert all(o.terminal and o.checks for o in report.outcomes)
    by_name = {o.scenario: o for o in report.outcomes}
    assert by_name["model_down_fails_cleanly"].status is RunStatus.FAILED
    assert by_name["worker_kill_lease_adoption"].effects == 4
    data = json.loads(json.dumps(report.to_json()))
    assert data["recovery_rate"] == 1.0 and data["scenarios"] == len(scenarios())


def test_a_duplicated_effect_or_a_wrong_status_is_not_a_recovery() -> None:
    def outcome(**changes: object) -> ChaosOutcome:
        values: dict[str, object] = {
            "scenario": "s",
            "fault": "http_5xx",
            "expected_status": RunStatus.SUCCEEDED,
            "status": RunStatus.SUCCEEDED,
            "expected_effects": 1,
            "effects": 1,
            "checks": (("retried", True),),
        } | changes
        return ChaosOutcome(**values)  # type: ignore[arg-type]

    assert outcome().recovered
    assert not outcome(effects=2).recovered  # duplicated
    assert not outcome(effects=0).recovered  # lost
    assert not outcome(status=RunStatus.FAILED).recovered
    assert (
        not outcome(status=RunStatus.RUNNING).recovered
        and not outcome(status=RunStatus.RUNNING).terminal
    )
    assert not outcome(checks=(("retried", False),)).recovered
    report = ChaosReport(outcomes=(outcome(), outcome(effects=2)))
    assert report.recovery_rate == 0.5 and report.by_fault() == {"http_5xx": (1, 2)}


def test_the_suite_gates_say_what_passes() -> None:
    assert gate("chaos", {"recovery_rate": 1.0})["passed"]
    assert not gate("chaos", {"recovery_rate": 0.95})["passed"]
    assert gate("redteam", {"attack_success_rate": 0.0, "utility_ratio": 0.96})["passed"]
    assert not gate("redteam", {"attack_success_rate": 0.02, "utility_ratio": 1.0})["passed"]
    assert not gate("redteam", {"attack_success_rate": 0.0, "utility_ratio": 0.9})["passed"]


async def test_an_unknown_suite_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="use one of chaos, redteam"):
        await run_suite("chaoss", tmp_path)


async def test_run_suite_runs_a_chosen_scenario_and_gates_it(tmp_path: Path) -> None:
    out = await run_suite("chaos", tmp_path, crash=False, only=["http_429_retry_after"])
    assert out["scenarios"] == 1 and out["gate"]["passed"] is True
