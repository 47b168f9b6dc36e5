"""Per-run automatic checks: every run's finish journals a ``check_violation`` per problem
(no-op tool spam, the external-call budget, PII to an unapproved sink, an unapproved write)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.agent_helpers import make_runtime, scripted
from tests.evals.agents import send_note
from tether import Agent
from tether.agent.spec import Limits
from tether.evals.autochecks import RunCheckLimits, violations
from tether.events import (
    ApprovalDecided,
    CheckViolation,
    Event,
    EventKey,
    Payload,
    PolicyDecided,
    ToolCallFinished,
    ToolCallStarted,
)
from tether.testing import answer, call


def run_events(tmp_path: Path, agent: Agent, *steps: Any, **settings: Any) -> list[Event]:
    model = scripted(*steps)
    rt = make_runtime(tmp_path, model, **settings)
    try:
        result = rt.run_sync(agent, "do it")
        return rt.store.journal.read(result.run_id)
    finally:
        rt.close()


def found(events: list[Event]) -> list[CheckViolation]:
    return [e.payload for e in events if isinstance(e.payload, CheckViolation)]


def spammer() -> Agent:
    return Agent(
        name="spam",
        model="scripted",
        tools=["calculator"],
        preselect_k=4,
        limits=Limits(max_steps=10, max_tool_calls=10, max_identical_calls=9),
    )


def test_noop_spam_is_journaled_before_run_finished(tmp_path: Path) -> None:
    steps = [call("calculator", expression="1 + 1") for _ in range(5)]
    events = run_events(tmp_path, spammer(), *steps, answer("2"), run_check_noop_max=3)
    (v,) = found(events)
    assert v.check == "noop_spam" and v.count == 4 and v.limit == 3
    kinds = [e.kind for e in events]
    assert kinds[-2:] == ["check_violation", "run_finished"]


def test_a_clean_run_and_checks_off_journal_nothing(tmp_path: Path) -> None:
    steps = [call("calculator", expression="1 + 1"), answer("2")]
    assert found(run_events(tmp_path / "a", spammer(), *steps)) == []
    spam = [call("calculator", expression="1 + 1") for _ in range(5)]
    off = run_events(tmp_path / "b", spammer(), *spam, answer("2"), run_checks=False)
    assert found(off) == []


def noter() -> Agent:
    return Agent(name="noter", model="scripted", tools=[send_note], preselect_k=4)


NOTE = call("send_note", to="bob@example.com", text="call me at 555-0100")
OPEN = {
    "redact": False,
    "policy_packs": ["ladder", "scopes", "models"],
    "approved_labels": {"scripted": ["pii"]},
}


def test_pii_in_the_clear_to_an_unapproved_sink(tmp_path: Path) -> None:
    events = run_events(tmp_path / "a", noter(), NOTE, answer("sent"), **OPEN)
    checks = {v.check: v for v in found(events)}
    assert "pii_sink" in checks and checks["pii_sink"].tool == "send_note"
    approved = OPEN | {"approved_labels": {"scripted": ["pii"], "send_note": ["pii"]}}
    ok = run_events(tmp_path / "b", noter(), NOTE, answer("sent"), **approved)
    assert "pii_sink" not in {v.check for v in found(ok)}
    masked = run_events(tmp_path / "c", noter(), NOTE, answer("sent"))  # redaction on
    assert "pii_sink" not in {v.check for v in found(masked)}


def test_external_call_budget(tmp_path: Path) -> None:
    notes = [call("send_note", to="ops", text=f"note {n}") for n in range(3)]
    events = run_events(
        tmp_path,
        noter(),
        *notes,
        answer("sent"),
        run_check_external_max=2,
        policy_packs=["ladder", "scopes", "models"],
    )
    (v,) = [v for v in found(events) if v.check == "external_calls"]
    assert v.count == 3 and v.limit == 2


def ev(step: int, index: int, kind: str, payload: Payload, segment: int = 0) -> Event:
    key = EventKey(run_id="r", segment=segment, step=step, kind=kind, index=index)
    return Event(key=key, payload=payload)


def write_call(step: int, segment: int = 0) -> list[Event]:
    return [
        ev(
            step,
            0,
            "tool_call_started",
            ToolCallStarted(
                call_id="c",
                tool="send_note",
                arguments={"to": "x"},
                idempotency_key="k",
                side_effect="write",
            ),
            segment,
        ),
        ev(
            step,
            0,
            "tool_call_finished",
            ToolCallFinished(call_id="c", tool="send_note", ok=True),
            segment,
        ),
    ]


def decision(outcome: str, reasons: list[str] | None = None) -> PolicyDecided:
    return PolicyDecided(
        target="tool",
        action="invoke",
        principal="a",
        resource="Tool::x",
        outcome=outcome,
        reasons=reasons or [],
    )  # type: ignore[arg-type]


def test_a_write_that_ran_without_the_approval_policy_asked_for() -> None:
    limits = RunCheckLimits()
    asked = [ev(1, 0, "policy_decision", decision("require_approval"))]
    unapproved = violations([*asked, *write_call(1)], limits)
    assert [v.check for v in unapproved] == ["unapproved_write"]
    person = ApprovalDecided(
        approval_id="a1", step=1, index=0, target="tool", outcome="approved", by=["ann"]
    )
    approved = [
        *asked,
        ev(1, 0, "approval_decided", person),
        ev(1, 0, "policy_decision", decision("allow", ["tether.approved_by_person"]), 1),
        *write_call(1, segment=1),
    ]
    assert violations(approved, limits) == []
    unasked = [ev(1, 0, "policy_decision", decision("allow")), *write_call(1)]
    assert violations(unasked, limits) == []


def test_eval_reports_show_violations(tmp_path: Path) -> None:
    from tether.evals.dataset import Case, Dataset
    from tether.evals.harness import Harness
    from tether.evals.report import violations as reported
    from tether.evals.runner import AgentTarget, evaluate

    spam = [{"call": {"tool": "calculator", "args": {"expression": "1 + 1"}}}] * 5
    case = Case.model_validate({"id": "spam", "input": "x", "script": [*spam, {"answer": "2"}]})
    harness = Harness.open(tmp_path, run_check_noop_max=2)
    try:
        target = AgentTarget(harness=harness, agents=lambda _: spammer())
        result = asyncio.run(evaluate(Dataset(cases=[case]), target))
    finally:
        harness.close()
    (row,) = reported(result)
    assert row["case"] == "spam" and row["check"] == "noop_spam" and row["count"] == 4
