"""Policy decisions in real runs on the scripted model: journaled, and acted on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.governance.fixtures import APPROVED, REGIONS, write_project
from tether import Agent, Runtime, tool
from tether.agent.spec import Limits
from tether.events import ApprovalRequested, PolicyDecided, ToolCallFinished
from tether.settings import Settings
from tether.testing import ScriptedModel, answer, call
from tether.types import RunStatus

RAN: list[str] = []


@tool(side_effect="high_risk")
def delete_account(account: str) -> str:
    """Delete an account for good.

    Args:
        account: the account id
    """
    RAN.append(f"delete {account}")
    return "deleted"


@tool(side_effect="write")
def pay(amount: float, to: str) -> str:
    """Pay someone.

    Args:
        amount: how much
        to: who
    """
    RAN.append(f"pay {amount} {to}")
    return "paid"


def runtime(tmp_path: Path, *models: ScriptedModel, **settings: Any) -> Runtime:
    s = Settings(
        home=tmp_path / "home",
        workspace=tmp_path,
        policies=write_project(tmp_path / "policies"),
        model_regions=REGIONS,
        approved_labels=APPROVED,
        **settings,
    )
    return Runtime(settings=s, models={m.model_id: m for m in models})


def make_agent(*tools: Any, model: str = "scripted", fallback: tuple[str, ...] = ()) -> Agent:
    return Agent(
        name="support",
        instructions="Help.",
        model=model,
        fallback=fallback,
        tools=list(tools),
        limits=Limits(max_steps=6),
        preselect_k=8,
    )


def decisions(rt: Runtime, run_id: str) -> list[PolicyDecided]:
    return [
        e.payload for e in rt.store.journal.read(run_id) if isinstance(e.payload, PolicyDecided)
    ]


async def test_denied_tool_returns_reasons_to_the_model_which_goes_on(tmp_path: Path) -> None:
    RAN.clear()
    model = ScriptedModel(
        steps=[
            call("pay", amount=20000, to="bob"),
            call("pay", amount=50, to="bob"),
            answer("paid 50"),
        ]
    )
    rt = runtime(tmp_path, model)
    result = await rt.run(make_agent(pay), "pay bob", user="alice")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED
    assert RAN == ["pay 50 bob"]  # the denied call never ran
    error = model.requests[1].messages[-1].content
    assert "policy_denied" in error and "payments.cap" in error and "over 10000" in error
    tool_decisions = [d for d in decisions(rt, result.run_id) if d.target == "tool"]
    assert [(d.outcome, d.reasons) for d in tool_decisions] == [
        ("deny", ["payments.cap"]),
        ("allow", ["ladder.write"]),
    ]
    assert tool_decisions[0].context["amount"] == 20000 and tool_decisions[0].user == "alice"
    finished = [
        e.payload
        for e in rt.store.journal.read(result.run_id)
        if isinstance(e.payload, ToolCallFinished)
    ]
    assert finished[0].error is not None and finished[0].error["reasons"] == ["payments.cap"]
    rt.close()


async def test_high_risk_tool_pauses_the_run_with_an_approval_request(tmp_path: Path) -> None:
    RAN.clear()
    model = ScriptedModel(steps=[call("delete_account", account="a-17")])
    rt = runtime(tmp_path, model)
    result = await rt.run(make_agent(delete_account), "close a-17")
    model.assert_consumed()
    assert result.status is RunStatus.PAUSED and result.exit_code == 2
    assert "waiting for approval of 'delete_account'" in (result.reason or "")
    assert RAN == []  # nothing ran
    events = rt.store.journal.read(result.run_id)
    approvals = [e.payload for e in events if isinstance(e.payload, ApprovalRequested)]
    assert len(approvals) == 1
    approval = approvals[0]
    assert approval.tool == "delete_account" and approval.arguments == {"account": "a-17"}
    assert approval.reasons == ["ladder.high_risk_needs_person"] and approval.idempotency_key
    assert decisions(rt, result.run_id)[-1].outcome == "require_approval"
    assert rt.store.runs.get(result.run_id).status is RunStatus.PAUSED
    assert not [e for e in events if e.kind == "tool_call_started"]
    rt.close()


async def test_model_outside_the_tenants_providers_fails_the_run(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[answer("hi")], model_id="anthropic:claude-test")
    rt = runtime(tmp_path, model)
    result = await rt.run(make_agent(model="anthropic:claude-test"), "hello", tenant="acme")
    assert result.status is RunStatus.FAILED
    assert "policy denied the call to model 'anthropic:claude-test'" in (result.reason or "")
    assert "may not use this model provider" in (result.reason or "")
    assert model.requests == []  # the model was never asked
    (decided,) = decisions(rt, result.run_id)
    assert decided.outcome == "deny" and decided.reasons == ["models.provider_not_allowed"]
    assert decided.resource == 'Model::"anthropic:claude-test"'
    rt.close()


async def test_pii_goes_only_to_an_approved_model_and_falls_back_to_it(tmp_path: Path) -> None:
    hosted = ScriptedModel(steps=[], model_id="openai:gpt-4o")
    approved = ScriptedModel(steps=[answer("noted")], model_id="openai:gpt-pii-ok")
    rt = runtime(tmp_path, hosted, approved, redact=False)
    agent = make_agent(model="openai:gpt-4o", fallback=("openai:gpt-pii-ok",))
    result = await rt.run(agent, "write to jane.doe@example.com", tenant="acme")
    assert result.status is RunStatus.SUCCEEDED and result.output == "noted"
    assert hosted.requests == [] and len(approved.requests) == 1
    outcome = {d.resource: (d.outcome, d.reasons) for d in decisions(rt, result.run_id)}
    assert outcome == {
        'Model::"openai:gpt-4o"': ("deny", ["classification.pii_to_unapproved_model"]),
        'Model::"openai:gpt-pii-ok"': ("allow", ["models.allowed"]),
    }
    rt.close()


async def test_pii_to_an_unapproved_model_alone_is_denied(tmp_path: Path) -> None:
    hosted = ScriptedModel(steps=[], model_id="openai:gpt-4o")
    rt = runtime(tmp_path, hosted, redact=False)
    result = await rt.run(make_agent(model="openai:gpt-4o"), "mail jane.doe@example.com")
    assert result.status is RunStatus.FAILED and "personal data" in (result.reason or "")
    (decided,) = decisions(rt, result.run_id)
    assert "pii" in decided.context["data_labels"]
    rt.close()


async def test_without_a_policies_folder_read_and_write_run(tmp_path: Path) -> None:
    RAN.clear()
    model = ScriptedModel(steps=[call("pay", amount=5, to="amy"), answer("done")])
    s = Settings(home=tmp_path / "home", workspace=tmp_path, policies=tmp_path / "none")
    rt = Runtime(settings=s, models={"scripted": model})
    result = await rt.run(make_agent(pay), "pay amy")
    assert result.status is RunStatus.SUCCEEDED and RAN == ["pay 5 amy"]
    assert [d.outcome for d in decisions(rt, result.run_id)] == ["allow", "allow", "allow"]
    rt.close()


async def test_a_model_that_needs_approval_pauses_the_run(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[answer("hi")])
    rt = runtime(tmp_path, model)
    (tmp_path / "policies" / "models.cedar").write_text(
        '@id("models.scripted_needs_a_person")\n'
        '@reason("the scripted model needs a person")\n'
        'forbid (principal, action == Action::"call_model_unattended", resource is Model)\n'
        'when { resource.provider == "scripted" };\n'
    )
    result = await rt.run(make_agent(), "hello")
    assert result.status is RunStatus.PAUSED and model.requests == []
    assert "the scripted model needs a person" in (result.reason or "")
    events = rt.store.journal.read(result.run_id)
    (approval,) = [e.payload for e in events if isinstance(e.payload, ApprovalRequested)]
    assert approval.target == "model" and approval.model == "scripted"
    assert approval.reasons == ["models.scripted_needs_a_person"]
    rt.close()


async def test_redacted_pii_reaches_a_hosted_model_only_as_a_marker(tmp_path: Path) -> None:
    hosted = ScriptedModel(steps=[answer("ok")], model_id="openai:gpt-4o")
    rt = runtime(tmp_path, hosted)  # redaction on (the default)
    result = await rt.run(make_agent(model="openai:gpt-4o"), "mail jane.doe@example.com")
    assert result.status is RunStatus.SUCCEEDED
    prompt = " ".join(m.content or "" for m in hosted.requests[0].messages)
    assert "jane.doe@example.com" not in prompt and "[REDACTED:email]" in prompt
    assert [d.outcome for d in decisions(rt, result.run_id)] == ["allow"]
    rt.close()
