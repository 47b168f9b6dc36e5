"""Shadow runs (issue 12, acceptance 3): a candidate that would call a write tool differently
executes no write and the difference is reported.

The production run and the shadow run each execute in a real `tether` process on one SQLite
file; the tools count their side effects in files (``tests/shadow_agent.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.agent_helpers import make_runtime, scripted
from tether import Agent, tool
from tether.evals.observe import CallRecord
from tether.release.shadow import shadow_runs
from tether.release.shadow_diff import differences
from tether.release.shadow_tools import SHADOW_REASON
from tether.testing import answer, call

ROOT = Path(__file__).resolve().parent.parent
TOOLS = '["tests.shadow_agent:lookup_order", "tests.shadow_agent:issue_refund"]'
PRODUCTION = f"""\
name: refunds
instructions: Refund what the customer is owed.
model: python:tests.shadow_agent:production
tools: {TOOLS}
"""
CANDIDATE = """\
name: refunds
instructions: Refund generously; check the order's history first.
model: python:tests.shadow_agent:candidate
tools: ["tests.shadow_agent:lookup_order", "tests.shadow_agent:order_history",
        "tests.shadow_agent:issue_refund"]
"""


def tether(tmp: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "TETHER_HOME": str(tmp / "home"),
        "TETHER_SHADOW_DIR": str(tmp),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
        cwd=tmp,
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_candidate_refunding_more_writes_nothing_and_reports_it(tmp_path: Path) -> None:
    (tmp_path / "production.yaml").write_text(PRODUCTION)
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    ran = tether(tmp_path, "run", "--agent", "production.yaml", "--json", "Refund order A1")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    assert lines(tmp_path / "effects") == ["refund A1 10"]
    assert lines(tmp_path / "reads") == ["lookup A1"]

    out = tether(tmp_path, "runs", "shadow", run_id[:14], "--agent", "candidate.yaml", "--json")
    assert out.returncode == 0, out.stderr
    (report,) = json.loads(out.stdout)

    # no write happened; the read production made came from its recording, the new one ran
    assert lines(tmp_path / "effects") == ["refund A1 10"]
    assert lines(tmp_path / "reads") == ["lookup A1", "history A1"]
    answered = {a["tool"]: a["answer"] for a in report["shadow"]["answered"]}
    assert answered == {"lookup_order": "recorded", "order_history": "live", "issue_refund": "stub"}
    assert report["writes_recorded"] == 1

    kinds = [(d["kind"], d["position"]) for d in report["differences"]]
    assert kinds == [("added", 2), ("changed", 3), ("answer", None)]
    changed = report["differences"][1]
    assert changed["production"] == {
        "tool": "issue_refund",
        "arguments": {"order_id": "A1", "amount": 10},
    }
    assert changed["shadow"]["arguments"] == {"order_id": "A1", "amount": 100}
    assert report["shadow"]["output"] == "Refunded 100 on order A1."
    assert report["same"] is False

    # stored as a shadow of the production run, with the shadowed calls in its journal
    with sqlite3.connect(tmp_path / "home" / "tether.db") as db:
        rows = dict(db.execute("SELECT id, shadow_of FROM tether_runs").fetchall())
    assert rows == {run_id: None, report["shadow_id"]: run_id}
    events = tether(tmp_path, "runs", "events", report["shadow_id"], "--json")
    assert events.returncode == 0, events.stderr
    shadowed = [
        e["payload"] for e in json.loads(events.stdout) if e["kind"] == "tool_call_shadowed"
    ]
    assert [(s["tool"], s["answer"]) for s in shadowed] == [
        ("lookup_order", "recorded"),
        ("order_history", "live"),
        ("issue_refund", "stub"),
    ]

    # the shadow run counts in neither KPIs nor costs
    costs = tether(tmp_path, "costs", "--json")
    assert costs.returncode == 0, costs.stderr
    assert json.loads(costs.stdout)["agent"]["refunds"]["runs"] == 1
    kpis = tether(tmp_path, "kpis", "--json")
    assert kpis.returncode == 0, kpis.stderr
    assert json.loads(kpis.stdout)["runs"] == 1

    # the Rich table names the difference too
    table = tether(tmp_path, "runs", "shadow", run_id, "--agent", "candidate.yaml", COLUMNS="300")
    assert table.returncode == 0, table.stderr
    assert "issue_refund with other arguments" in table.stdout
    assert lines(tmp_path / "effects") == ["refund A1 10"]


def test_the_same_agent_shadows_without_differences(tmp_path: Path) -> None:
    (tmp_path / "production.yaml").write_text(PRODUCTION)
    ran = tether(tmp_path, "run", "--agent", "production.yaml", "--json", "Refund order A1")
    assert ran.returncode == 0, ran.stderr
    out = tether(tmp_path, "runs", "shadow", "--last", "1", "--agent", "production.yaml", "--json")
    assert out.returncode == 0, out.stderr
    (report,) = json.loads(out.stdout)
    assert report["same"] is True and report["differences"] == []
    # the identical write is answered with production's recorded result, still not executed
    assert [a["answer"] for a in report["shadow"]["answered"]] == ["recorded", "recorded"]
    assert lines(tmp_path / "effects") == ["refund A1 10"]
    compensate = tether(tmp_path, "runs", "compensate", report["shadow_id"])
    assert compensate.returncode == 64 and "nothing to undo" in compensate.stderr


def test_shadow_needs_a_candidate_and_runs(tmp_path: Path) -> None:
    out = tether(tmp_path, "runs", "shadow", "run_x")
    assert out.returncode == 64 and "--agent" in out.stderr
    out = tether(tmp_path, "runs", "shadow", "--agent", "x.yaml")
    assert out.returncode == 64 and "--last N" in out.stderr


def rec(tool: str, **arguments: object) -> CallRecord:
    return CallRecord(step=0, index=0, tool=tool, arguments=dict(arguments))


def test_differences_name_added_removed_changed_and_order() -> None:
    a, b, c = rec("a", x=1), rec("b"), rec("c")
    same = differences([a, b], [a, b], ("ok", "ok"), ("succeeded", "succeeded"))
    assert same == []
    order = differences([a, b], [b, a], ("ok", "ok"), ("succeeded", "succeeded"))
    assert [d.kind for d in order] == ["order"]
    removed = differences([a, b, c], [a, c], ("ok", "ok"), ("succeeded", "failed"))
    assert [(d.kind, d.position) for d in removed] == [("removed", 2), ("status", None)]
    changed = differences([a], [rec("a", x=2)], ("ok", "no"), ("succeeded", "succeeded"))
    assert [d.kind for d in changed] == ["changed", "answer"]
    assert "a with other arguments" in changed[0].detail


PAID: list[int] = []


@tool(side_effect="high_risk", sink=False)
def pay(amount: int) -> dict[str, int]:
    """Pay an amount.

    Args:
        amount: how much
    """
    PAID.append(amount)
    return {"paid": amount}


def test_a_shadow_asks_no_person_and_pays_nothing(tmp_path: Path) -> None:
    """A high-risk call (always approved by a person in production) in a shadow run: no
    approval request, no payment; the decision says a person would have been asked."""
    PAID.clear()
    prod = Agent(name="payer", model="scripted", tools=["calculator"], preselect_k=8)
    rt = make_runtime(tmp_path, scripted(answer("nothing to pay")))
    try:
        run_id = rt.run_sync(prod, "pay the invoice").run_id
    finally:
        rt.close()
    cand = Agent(name="payer", model="scripted", tools=["calculator", pay], preselect_k=8)
    rt = make_runtime(tmp_path, scripted(call("pay", amount=5), answer("paid 5")))
    try:
        (report,) = asyncio.run(shadow_runs(rt, [run_id], cand))
        assert PAID == [] and report.shadow.status == "succeeded"
        assert [d.kind for d in report.differences] == ["added", "answer"]
        assert [(s.tool, s.answer) for s in report.shadowed] == [("pay", "stub")]
        assert rt.store.approvals.list() == []
        events = rt.store.journal.read(report.shadow_id)
        (decided,) = [e.payload for e in events if e.kind == "policy_decision" and e.key.index >= 0]
        assert decided.outcome == "allow" and SHADOW_REASON in decided.reasons
        assert rt.store.runs.get(report.shadow_id).shadow_of == run_id
    finally:
        rt.close()
