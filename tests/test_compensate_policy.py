"""Compensations go through policy and the approval ladder like any tool call (DESIGN §2.2):
each undo's decision is journaled, a denied undo is journaled and reported, and one that
needs a person waits for the approval, then goes on when the command runs again."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.agent_helpers import make_runtime, scripted
from tests.test_compensate import LEDGER, _ledger, _unbook
from tether import Agent, Runtime, ToolContext, tool
from tether.agent.compensate import Compensation, compensate_run
from tether.events import (
    CompensationApproval,
    CompensationDecided,
    CompensationRequested,
    ToolCompensated,
)
from tether.governance.approvals import Approvals
from tether.testing import answer, call

# undoing a booking of seat 1B needs a person; undoing a refund is never allowed; other
# undos run unattended (the ladder's default for write tools)
POLICY = """
@id("undo.seat_1b_needs_person")
@reason("undoing the booking of seat 1B needs a person")
forbid (principal, action == Action::"invoke_unattended", resource == Tool::"book")
when { context has compensation && context.compensation && context has recipient &&
       context.recipient == "1B" };

@id("undo.refund_is_final")
@reason("a refund is never taken back by tether")
forbid (principal, action == Action::"invoke", resource == Tool::"refund")
when { context has compensation && context.compensation };
"""


def _unrefund(ctx: ToolContext, arguments: dict[str, Any], result: Any) -> str:
    _ledger(f"unrefund {arguments['order']}")
    return "charged again"


@tool(side_effect="write", compensate=_unbook, risk_fields={"recipient": "seat"}, sink=False)
def book(seat: str) -> dict[str, str]:
    """Book a seat.

    Args:
        seat: the seat to book
    """
    _ledger(f"book {seat}")
    return {"booked": seat}


@tool(side_effect="write", compensate=_unrefund, sink=False)
def refund(order: str) -> str:
    """Refund an order.

    Args:
        order: the order
    """
    _ledger(f"refund {order}")
    return "refunded"


def _run(tmp_path: Path, monkeypatch: Any) -> tuple[Runtime, str, Path]:
    ledger = tmp_path / "ledger"
    monkeypatch.setenv(LEDGER, str(ledger))
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "undo.cedar").write_text(POLICY)
    model = scripted(
        call("book", seat="1A"),
        call("book", seat="1B"),
        call("refund", order="o-7"),
        call("book", seat="1C"),
        answer("done"),
    )
    rt = make_runtime(tmp_path, model, policies=policies, user="ops-alice")
    agent = Agent(name="booker", model="scripted", tools=[book, refund])
    result = rt.run_sync(agent, "book 1A, 1B, 1C and refund o-7")
    assert result.status.value == "succeeded"
    return rt, result.run_id, ledger


def _compensate(rt: Runtime, run_id: str) -> list[Compensation]:
    return asyncio.run(compensate_run(rt, run_id))


def _payloads(rt: Runtime, run_id: str, kind: type) -> list[Any]:
    return [e.payload for e in rt.store.journal.read(run_id) if isinstance(e.payload, kind)]


def test_each_undo_is_decided_by_policy_and_journaled(tmp_path: Path, monkeypatch: Any) -> None:
    rt, run_id, ledger = _run(tmp_path, monkeypatch)
    try:
        report = _compensate(rt, run_id)
        # newest first: 1C undone, the refund refused by policy, 1B waits for a person, and
        # 1A (older) waits behind it
        assert [(c.tool, c.ok, c.waiting) for c in report] == [
            ("book", True, False),
            ("refund", False, False),
            ("book", False, True),
        ]
        assert "a refund is never taken back" in report[1].detail
        assert report[2].approval_id is not None
        assert ledger.read_text().splitlines()[-1] == "cancel 1C"
        assert "unrefund" not in ledger.read_text()
        decided = _payloads(rt, run_id, CompensationDecided)
        assert [(d.tool, d.outcome) for d in decided] == [
            ("book", "allow"),
            ("refund", "deny"),
            ("book", "require_approval"),
        ]
        assert all(d.context["compensation"] is True for d in decided)
        assert decided[1].reasons == ["undo.refund_is_final"]
        assert decided[0].by == "ops-alice"
        undos = _payloads(rt, run_id, ToolCompensated)
        assert [(u.tool, u.ok) for u in undos] == [("book", True), ("refund", False)]
        assert "policy denied the undo" in (undos[1].error or "")
        (requested,) = _payloads(rt, run_id, CompensationRequested)
        assert requested.arguments == {"seat": "1B"}
        # the request is an ordinary approval, listed with the others
        approvals = Approvals(rt)
        (open_,) = approvals.list(run_id=run_id)
        assert (open_.id, open_.target, open_.tool) == (
            requested.approval_id,
            "compensation",
            "book",
        )
        assert "undo of the completed 'book' write" in (open_.stated_reason or "")

        # run again while it is open: nothing more is undone, the refusal is reported again
        again = _compensate(rt, run_id)
        assert [(c.tool, c.ok, c.waiting) for c in again] == [
            ("refund", False, False),
            ("book", False, True),
        ]
        assert ledger.read_text().count("cancel") == 1

        approvals.approve(open_.id, "ops-bob", reason="1B was booked by mistake")
        done = _compensate(rt, run_id)
        assert [(c.tool, c.ok) for c in done] == [("refund", False), ("book", True), ("book", True)]
        assert ledger.read_text().splitlines()[-2:] == ["cancel 1B", "cancel 1A"]
        (person,) = _payloads(rt, run_id, CompensationApproval)
        assert (person.outcome, person.by) == ("approved", ["ops-bob"])
        # nothing undone twice; only the refund is left for a person to undo by hand
        assert [c.tool for c in _compensate(rt, run_id)] == ["refund"]
        assert ledger.read_text().count("cancel") == 3
    finally:
        rt.close()


def test_a_denied_approval_is_reported_and_the_rest_go_on(tmp_path: Path, monkeypatch: Any) -> None:
    rt, run_id, ledger = _run(tmp_path, monkeypatch)
    try:
        waiting = _compensate(rt, run_id)[-1]
        assert waiting.waiting and waiting.approval_id is not None
        Approvals(rt).deny(waiting.approval_id, "ops-bob", "1B keeps its booking")
        report = _compensate(rt, run_id)
        assert [(c.tool, c.ok) for c in report] == [
            ("refund", False),
            ("book", False),
            ("book", True),
        ]
        assert "not approved (denied): 1B keeps its booking" in report[1].detail
        assert "cancel 1B" not in ledger.read_text()
        assert ledger.read_text().splitlines()[-1] == "cancel 1A"
        (person,) = _payloads(rt, run_id, CompensationApproval)
        assert (person.outcome, person.reason) == ("denied", "1B keeps its booking")
    finally:
        rt.close()


def test_the_command_exits_2_while_an_undo_waits(tmp_path: Path, monkeypatch: Any) -> None:
    rt, run_id, ledger = _run(tmp_path, monkeypatch)
    rt.close()
    env = os.environ | {
        "TETHER_HOME": str(tmp_path / "home"),
        "TETHER_POLICIES": str(tmp_path / "policies"),
        "PYTHONPATH": os.getcwd(),
    }

    def tether(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tether.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )

    out = tether("runs", "compensate", run_id)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "WAITING" in out.stdout and "undoing the booking of seat 1B needs a person" in out.stdout
    listed = tether("approvals", "list", "--json")
    (row,) = json.loads(listed.stdout)
    assert (row["target"], row["tool"], row["arguments"]) == (
        "compensation",
        "book",
        {"seat": "1B"},
    )
    approved = tether("approvals", "approve", row["id"], "--by", "ops-bob", "--run-here")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert f"tether runs compensate {run_id}" in approved.stdout
    done = tether("runs", "compensate", run_id)
    assert done.returncode == 1, done.stdout + done.stderr  # the refund stays: undo it by hand
    assert ledger.read_text().splitlines()[-2:] == ["cancel 1B", "cancel 1A"]
