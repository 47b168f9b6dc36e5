"""The approval ladder in-process: approve, edit, deny, two approvers, batches, timeouts.

Runs execute on the scripted model with a real SQLite file; each paused run goes on in a new
segment rebuilt from its journal (``Approvals(..., resume="here")`` then ``run_here``).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.governance.fixtures import write_project
from tether import Agent, Runtime, ToolContext, tool
from tether.agent.spec import Limits
from tether.errors import ConfigError, UsageError
from tether.events import ApprovalDecided, PolicyDecided, ToolCallStarted
from tether.governance.approvals import Approvals
from tether.settings import Settings
from tether.testing import FakeClock, ScriptedModel, ScriptStep, answer, call, calls
from tether.types import RunStatus, ToolCall, ToolResultMessage

RAN: list[str] = []
LEDGER = {"a-17": "open"}

TWO_PEOPLE = """
@id("payments.over_1000_two_people")
@reason("payments over 1000 need two people")
@approvers("2")
@reviewers("finance")
forbid (principal, action == Action::"invoke_unattended", resource == Tool::"pay")
when { context has amount && context.amount > 1000 };
"""


def _describe(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    account = arguments["account"]
    return {"before": {account: LEDGER.get(account)}, "after": {account: "deleted"}}


@tool(side_effect="high_risk", describe_change=_describe)
def delete_account(account: str) -> str:
    """Delete an account for good.

    Args:
        account: the account id
    """
    RAN.append(f"delete {account}")
    return "deleted"


@tool(side_effect="write")
def pay(amount: int, to: str) -> str:
    """Pay someone.

    Args:
        amount: how much
        to: who
    """
    RAN.append(f"pay {amount} {to}")
    return "paid"


@tool
def lookup(account: str) -> dict[str, str]:
    """Look an account up.

    Args:
        account: the account id
    """
    return {"account": account, "state": "duplicate of a-18"}


def runtime(tmp_path: Path, model: ScriptedModel, extra: str = "", **settings: Any) -> Runtime:
    s = Settings(
        home=tmp_path / "home",
        workspace=tmp_path,
        policies=write_project(tmp_path / "policies", extra),
        **settings,
    )
    return Runtime(settings=s, models={model.model_id: model}, clock=CLOCK)


CLOCK = FakeClock()  # moved by the timeout tests; deadlines are relative to it


def agent() -> Agent:
    return Agent(
        name="support",
        instructions="Help.",
        model="scripted",
        tools=[delete_account, pay, lookup],
        limits=Limits(max_steps=8),
        preselect_k=8,
    )


def said(text: str, name: str, **arguments: Any) -> ScriptStep:
    return ScriptStep(text=text, tool_calls=(ToolCall(id="c1", name=name, arguments=arguments),))


def last_tool_result(model: ScriptedModel) -> str:
    results = [m for m in model.requests[-1].messages if isinstance(m, ToolResultMessage)]
    return results[-1].content


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


async def test_approve_runs_the_call_once_without_asking_policy_again(tmp_path: Path) -> None:
    model = ScriptedModel(
        steps=[
            call("lookup", account="a-17"),
            said("a-17 is a duplicate of a-18; deleting it", "delete_account", account="a-17"),
            answer("deleted a-17"),
        ]
    )
    rt = runtime(tmp_path, model)
    paused = await rt.run(agent(), "close a-17")
    assert paused.status is RunStatus.PAUSED and RAN == []
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    assert pending.status == "pending" and pending.tool == "delete_account"
    assert pending.arguments == {"account": "a-17"} and pending.side_effect == "high_risk"
    assert pending.stated_reason == "a-17 is a duplicate of a-18; deleting it"
    (evidence,) = pending.evidence
    assert evidence["tool"] == "lookup" and "duplicate of a-18" in evidence["excerpt"]
    assert evidence["event_id"].endswith("/tool_call_finished/0")
    assert rt.store.journal.get(evidence["event_id"]) is not None
    assert pending.change == {"before": {"a-17": "open"}, "after": {"a-17": "deleted"}}
    assert pending.policy["reasons"] == ["ladder.high_risk_needs_person"]
    assert pending.approvers == 1 and pending.reviewers == "reviewers" and pending.deadline is None
    assert rt.store.runs.get(paused.run_id).status is RunStatus.PAUSED

    decided = approvals.approve(pending.id[:10], "alice", reason="checked the ledger")
    assert decided.status == "approved" and decided.resumed_at is not None
    assert rt.store.runs.get(paused.run_id).status is RunStatus.QUEUED
    done = await approvals.run_here(paused.run_id)
    assert done.status is RunStatus.SUCCEEDED and done.output == "deleted a-17"
    assert RAN == ["delete a-17"]
    model.assert_consumed()
    events = rt.store.journal.read(paused.run_id)
    (d,) = [e for e in events if isinstance(e.payload, ApprovalDecided)]
    assert d.payload.outcome == "approved" and d.payload.by == ["alice"]
    assert d.key.segment == 0 and d.seq > [e for e in events if e.kind == "run_paused"][0].seq
    seg1 = [e for e in events if e.key.segment == 1]
    decisions = [e.payload for e in seg1 if isinstance(e.payload, PolicyDecided)]
    tool_decisions = [p for p in decisions if p.target == "tool"]
    assert [p.reasons for p in tool_decisions] == [["tether.approved_by_person"]]
    (started,) = [e.payload for e in seg1 if isinstance(e.payload, ToolCallStarted)]
    assert started.idempotency_key == pending.idempotency_key  # the key the reviewer saw
    with pytest.raises(UsageError, match="already approved"):
        approvals.approve(pending.id, "bob")
    rt.close()


async def test_edit_and_approve_runs_the_edited_call(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[call("pay", amount=500, to="bob"), answer("paid")])
    rt = runtime(tmp_path, model)
    paused = await rt.run(agent(), "pay bob", user="alice")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    assert pending.policy["reasons"] == ["payments.over_100_need_a_person"]
    decided = approvals.approve(pending.id, "carol", edit={"amount": 50, "to": "bob"})
    assert decided.final_arguments == {"amount": 50, "to": "bob"}
    assert (await approvals.run_here(paused.run_id)).status is RunStatus.SUCCEEDED
    assert RAN == ["pay 50 bob"]
    assert json.loads(last_tool_result(model)) == "paid"
    (d,) = [e.payload for e in rt.store.journal.read(paused.run_id) if e.kind == "approval_decided"]
    assert (
        isinstance(d, ApprovalDecided) and d.edited and d.arguments == {"amount": 50, "to": "bob"}
    )
    rt.close()


async def test_an_invalid_edit_is_refused_naming_the_field_and_changes_nothing(
    tmp_path: Path,
) -> None:
    model = ScriptedModel(steps=[call("pay", amount=500, to="bob")])
    rt = runtime(tmp_path, model)
    paused = await rt.run(agent(), "pay bob", user="alice")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    before = len(rt.store.journal.read(paused.run_id))
    with pytest.raises(UsageError, match=r"\$\.amount: 'lots' is not of type 'integer'"):
        approvals.approve(pending.id, "carol", edit={"amount": "lots", "to": "bob"})
    with pytest.raises(UsageError, match=r"unexpected|Additional properties"):
        approvals.approve(pending.id, "carol", edit={"amount": 5, "to": "bob", "memo": "x"})
    after = approvals.get(pending.id)
    assert after.status == "pending" and after.decisions == ()
    assert len(rt.store.journal.read(paused.run_id)) == before
    assert rt.store.runs.get(paused.run_id).status is RunStatus.PAUSED and RAN == []
    rt.close()


async def test_deny_gives_the_reason_to_the_agent_which_goes_on(tmp_path: Path) -> None:
    model = ScriptedModel(
        steps=[call("delete_account", account="a-17"), answer("I did not delete a-17")]
    )
    rt = runtime(tmp_path, model)
    paused = await rt.run(agent(), "close a-17")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    with pytest.raises(UsageError, match="needs a reason"):
        approvals.deny(pending.id, "alice", "  ")
    approvals.deny(pending.id, "alice", "a-17 has an open invoice")
    done = await approvals.run_here(paused.run_id)
    assert done.status is RunStatus.SUCCEEDED and RAN == []
    seen = json.loads(last_tool_result(model))["error"]
    assert seen["code"] == "approval_denied" and seen["reason"] == "a-17 has an open invoice"
    assert approvals.get(pending.id).status == "denied"
    assert approvals.list() == []
    rt.close()


async def test_two_distinct_approvers_above_the_threshold(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[call("pay", amount=5000, to="bob"), answer("paid")])
    rt = runtime(tmp_path, model, TWO_PEOPLE)
    paused = await rt.run(agent(), "pay bob", user="alice")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    assert pending.approvers == 2 and pending.reviewers == "finance"
    first = approvals.approve(pending.id, "alice")
    assert first.status == "pending" and first.approved_by() == ["alice"]
    with pytest.raises(UsageError, match="distinct approvers"):
        approvals.approve(pending.id, "alice")  # the same person twice does not count
    assert rt.store.runs.get(paused.run_id).status is RunStatus.PAUSED  # not resumed yet
    assert [e for e in rt.store.journal.read(paused.run_id) if e.kind == "approval_decided"] == []
    second = approvals.approve(pending.id, "bob")
    assert second.status == "approved" and second.approved_by() == ["alice", "bob"]
    assert (await approvals.run_here(paused.run_id)).status is RunStatus.SUCCEEDED
    assert RAN == ["pay 5000 bob"]
    rt.close()


async def test_an_edit_restarts_the_count_of_approvers(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[call("pay", amount=5000, to="bob")])
    rt = runtime(tmp_path, model, TWO_PEOPLE)
    await rt.run(agent(), "pay bob", user="alice")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    approvals.approve(pending.id, "alice")
    edited = approvals.approve(pending.id, "bob", edit={"amount": 4000, "to": "bob"})
    assert edited.status == "pending" and edited.approved_by() == ["bob"]
    assert approvals.approve(pending.id, "alice").status == "approved"
    rt.close()


async def test_batch_approval_of_tier_one_calls(tmp_path: Path) -> None:
    model = ScriptedModel(
        steps=[
            call("pay", amount=200, to="ann"),
            call("pay", amount=300, to="ben"),
            call("delete_account", account="a-1"),
            answer("done"),
            answer("done"),
        ]
    )
    rt = runtime(tmp_path, model)
    one = await rt.run(agent(), "pay ann", user="alice")
    two = await rt.run(agent(), "pay ben", user="alice")
    three = await rt.run(agent(), "close a-1")
    approvals = Approvals(rt, resume="here")
    pays = [r.id for r in approvals.list(tool="pay")]
    assert len(pays) == 2 and len(approvals.list()) == 3
    risky = approvals.list(tool="delete_account")[0].id
    with pytest.raises(UsageError, match="high-risk"):
        approvals.approve_batch([*pays, risky], "carol")
    assert len(approvals.list()) == 3  # nothing was approved
    decided = approvals.approve_batch(pays, "carol")
    assert [d.status for d in decided] == ["approved", "approved"]
    for run in (one, two):
        assert (await approvals.run_here(run.run_id)).status is RunStatus.SUCCEEDED
    assert sorted(RAN) == ["pay 200 ann", "pay 300 ben"]
    assert rt.store.runs.get(three.run_id).status is RunStatus.PAUSED
    rt.close()


async def test_a_timeout_denies_with_a_reason_the_agent_sees(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[call("delete_account", account="a-17"), answer("gave up")])
    rt = runtime(tmp_path, model, approval_timeout_s=600)
    paused = await rt.run(agent(), "close a-17")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    assert pending.deadline is not None
    assert (pending.deadline - CLOCK.now()).total_seconds() == 600
    CLOCK.advance(599)
    assert approvals.sweep().expired == []
    CLOCK.advance(2)
    report = approvals.sweep()
    assert report.expired == [pending.id] and report.resumed == [paused.run_id]
    assert approvals.get(pending.id).status == "expired"
    done = await approvals.run_here(paused.run_id)
    assert done.status is RunStatus.SUCCEEDED and RAN == []
    seen = json.loads(last_tool_result(model))["error"]
    assert seen["code"] == "approval_denied" and seen["reason"] == "approval timed out"
    with pytest.raises(UsageError, match="already expired"):
        approvals.approve(pending.id, "alice")
    rt.close()


ESCALATE = """
@id("accounts.escalate")
@reason("deletions go to support leads, then to the managers")
@reviewers("support_leads")
@approval_timeout("1h")
@escalate_to("managers")
forbid (principal, action == Action::"invoke_unattended", resource == Tool::"delete_account");
"""


async def test_a_timeout_escalates_to_another_group_then_expires(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[call("delete_account", account="a-17"), answer("ok")])
    rt = runtime(tmp_path, model, ESCALATE)
    paused = await rt.run(agent(), "close a-17")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list(reviewers="support_leads")
    CLOCK.advance(3601)
    assert approvals.sweep().escalated == [pending.id]
    escalated = approvals.get(pending.id)
    assert escalated.status == "escalated" and escalated.reviewers == "managers"
    assert escalated.deadline is not None and escalated.deadline > CLOCK.now()
    assert approvals.list(reviewers="managers") == [escalated]
    assert rt.store.runs.get(paused.run_id).status is RunStatus.PAUSED
    CLOCK.advance(3601)
    assert approvals.sweep().expired == [pending.id]
    assert [v.verdict for v in approvals.get(pending.id).decisions] == ["escalate", "expire"]
    rt.close()


async def test_an_escalated_approval_can_still_be_approved(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[call("delete_account", account="a-17"), answer("ok")])
    rt = runtime(tmp_path, model, ESCALATE)
    paused = await rt.run(agent(), "close a-17")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    CLOCK.advance(3601)
    approvals.sweep()
    assert approvals.approve(pending.id, "manager_mo").status == "approved"
    assert (await approvals.run_here(paused.run_id)).status is RunStatus.SUCCEEDED
    assert RAN == ["delete a-17"]
    rt.close()


async def test_a_model_call_approval_resumes_the_model_call(tmp_path: Path) -> None:
    extra = """
@id("models.scripted_needs_a_person")
@reason("the scripted model needs a person")
forbid (principal, action == Action::"call_model_unattended", resource == Model::"scripted");
"""
    model = ScriptedModel(steps=[answer("hello")])
    rt = runtime(tmp_path, model, extra)
    paused = await rt.run(agent(), "say hello")
    assert paused.status is RunStatus.PAUSED and model.requests == []
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    assert pending.target == "model" and pending.model == "scripted"
    with pytest.raises(UsageError, match="cannot be edited"):
        approvals.approve(pending.id, "alice", edit={})
    approvals.approve(pending.id, "alice")
    done = await approvals.run_here(paused.run_id)
    assert done.status is RunStatus.SUCCEEDED and done.output == "hello"
    rt.close()


async def test_approval_rows_are_redacted(tmp_path: Path) -> None:
    secret = "sk-test-0123456789abcdefghij"
    model = ScriptedModel(steps=[said(f"use {secret}", "pay", amount=500, to=secret)])
    rt = runtime(tmp_path, model, secrets={"payments": secret})
    await rt.run(agent(), "pay", user="alice")
    (pending,) = Approvals(rt).list()
    assert secret not in json.dumps(pending.to_json())
    with rt.store.engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(sa.text("SELECT * FROM tether_approvals")))
    assert secret not in dump
    rt.close()


def test_bad_approval_annotations_fail_at_load(tmp_path: Path) -> None:
    bad = TWO_PEOPLE.replace('@approvers("2")', '@approvers("many")')
    rt = runtime(tmp_path, ScriptedModel(steps=[]), bad)
    with pytest.raises(ConfigError, match=r"@approvers\('many'\).*fix the annotation"):
        rt.policies.current()
    rt.close()


async def test_two_approvers_at_once_both_count(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[call("pay", amount=5000, to="bob")])
    rt = runtime(tmp_path, model, TWO_PEOPLE)
    paused = await rt.run(agent(), "pay bob", user="alice")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    barrier = threading.Barrier(2)

    def vote(name: str) -> str:
        barrier.wait()
        return approvals.approve(pending.id, name).status

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(vote, ["alice", "bob"]))
    decided = approvals.get(pending.id)  # one vote saw the other: none was lost
    assert decided.status == "approved" and sorted(decided.approved_by()) == ["alice", "bob"]
    events = rt.store.journal.read(paused.run_id, kinds=["approval_decided"])
    assert len(events) == 1
    assert rt.store.runs.get(paused.run_id).status is RunStatus.QUEUED
    rt.close()


def _pay_many(arguments: list[dict[str, Any]]) -> list[str]:
    RAN.append("batch " + ",".join(f"{a['amount']}>{a['to']}" for a in arguments))
    return ["paid"] * len(arguments)


@tool(name="pay", side_effect="write", batch=_pay_many)
def batch_pay(amount: int, to: str) -> str:
    """Pay someone.

    Args:
        amount: how much
        to: who
    """
    RAN.append(f"pay {amount} {to}")
    return "paid"


async def test_calls_of_a_batch_tool_are_approved_one_by_one_then_run_once(
    tmp_path: Path,
) -> None:
    model = ScriptedModel(
        steps=[
            calls(("pay", {"amount": 200, "to": "ann"}), ("pay", {"amount": 300, "to": "ben"})),
            answer("paid both"),
        ]
    )
    rt = runtime(tmp_path, model)
    a = Agent(name="support", instructions="Help.", model="scripted", tools=[batch_pay])
    paused = await rt.run(a, "pay both", user="alice")
    approvals = Approvals(rt, resume="here")
    (first,) = approvals.list()
    assert first.index == 0
    approvals.approve(first.id, "carol", edit={"amount": 150, "to": "ann"})
    again = await approvals.run_here(paused.run_id)
    assert again.status is RunStatus.PAUSED and RAN == []  # the second call waits too
    (second,) = approvals.list()
    assert second.index == 1 and second.segment == 1
    approvals.approve(second.id, "carol")
    assert (await approvals.run_here(paused.run_id)).status is RunStatus.SUCCEEDED
    assert RAN == ["batch 150>ann,300>ben"]  # one batch call, each with its approved arguments
    rt.close()
