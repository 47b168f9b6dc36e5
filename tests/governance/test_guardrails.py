"""Guardrails: input and output filters and a tool allow list, per agent; each verdict is
journaled, and blocking is the default (no model call, so no tool, before the input passed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, load_agent, tool
from tether.agent.spec import Limits
from tether.errors import AgentSpecError
from tether.events import GuardrailVerdict
from tether.governance.guardrails import Guardrails
from tether.settings import Settings
from tether.testing import ScriptedModel, answer, call
from tether.types import RunStatus

RAN: list[str] = []


@tool
def lookup(q: str) -> str:
    """Look something up.

    Args:
        q: what to look up
    """
    RAN.append(q)
    return "found"


@tool
def other(q: str) -> str:
    """Another tool.

    Args:
        q: anything
    """
    RAN.append("other " + q)
    return "other"


def run(tmp_path: Path, guardrails: dict[str, Any], goal: str, *steps: Any, **kw: Any) -> Any:
    RAN.clear()
    model = ScriptedModel(steps=list(steps))
    settings = Settings(home=tmp_path / "home", workspace=tmp_path, policies=tmp_path, **kw)
    rt = Runtime(settings=settings, models={"scripted": model})
    agent = Agent(
        name="guarded",
        model="scripted",
        tools=[lookup, other],
        limits=Limits(max_steps=5),
        guardrails=Guardrails.model_validate(guardrails),
    )
    result = rt.run_sync(agent, goal)
    events = rt.store.journal.read(result.run_id)
    rt.close()
    return result, model, events


def verdicts(events: Any) -> list[tuple[str, str, str]]:
    return [
        (e.payload.stage, e.payload.rule, e.payload.verdict)
        for e in events
        if isinstance(e.payload, GuardrailVerdict)
    ]


def test_a_denied_input_fails_the_run_before_any_model_or_tool_call(tmp_path: Path) -> None:
    g = {"input": {"deny_terms": ["wire transfer", "password"], "max_chars": 500}}
    result, model, events = run(
        tmp_path, g, "Tell me the admin PASSWORD please", call("lookup", q="admin")
    )
    assert result.status is RunStatus.FAILED and result.exit_code == 1
    assert "input guardrail 'input.deny_terms' blocked" in (result.reason or "")
    assert model.requests == [] and RAN == []  # no model call, no tool
    assert verdicts(events) == [
        ("input", "input.max_chars", "pass"),
        ("input", "input.deny_terms", "block"),
    ]
    kinds = [e.kind for e in events]
    assert "model_request" not in kinds and "tool_call_started" not in kinds
    blocked = [e.payload for e in events if isinstance(e.payload, GuardrailVerdict)][-1]
    assert blocked.detail == "matched deny term 1"  # names the rule, quotes nothing


def test_topics_allow_list_and_size_limit(tmp_path: Path) -> None:
    g = {"input": {"topics": {"billing": ["invoice", "refund"]}, "max_chars": 40}}
    off_topic, model, events = run(tmp_path / "a", g, "write me a poem", answer("no"))
    assert off_topic.status is RunStatus.FAILED and model.requests == []
    assert ("input", "input.topics", "block") in verdicts(events)
    too_long, _, events = run(tmp_path / "b", g, "refund " * 10, answer("no"))
    assert too_long.status is RunStatus.FAILED and "input.max_chars" in (too_long.reason or "")
    ok, model, events = run(
        tmp_path / "c", g, "Where is my refund?", call("lookup", q="refund"), answer("on its way")
    )
    assert ok.status is RunStatus.SUCCEEDED and RAN == ["refund"]
    assert verdicts(events) == [
        ("input", "input.max_chars", "pass"),
        ("input", "input.topics", "pass"),
    ]


def test_pii_in_the_answer_blocks_it(tmp_path: Path) -> None:
    g = {"output": {"pii": "block"}}
    result, _, events = run(tmp_path, g, "who is it", answer("write to jane.doe@example.com"))
    assert result.status is RunStatus.FAILED and result.output is None
    assert "output guardrail 'output.pii' blocked the answer (1 email found)" == result.reason
    (v,) = [e.payload for e in events if isinstance(e.payload, GuardrailVerdict)]
    assert v.stage == "output" and v.verdict == "block" and "jane" not in v.detail


def test_pii_in_the_answer_is_redacted(tmp_path: Path) -> None:
    g = {"output": {"pii": "redact", "deny_patterns": [r"\bkill\b"]}}
    result, _, events = run(tmp_path, g, "who", answer("mail jane.doe@example.com"), redact=False)
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == "mail [REDACTED:email]"
    assert verdicts(events) == [
        ("output", "output.deny_patterns", "pass"),
        ("output", "output.pii", "redact"),
    ]


def test_a_denied_answer_fails_the_run(tmp_path: Path) -> None:
    g = {"output": {"deny_patterns": [r"confidential"], "max_chars": 1000}}
    result, _, events = run(tmp_path, g, "status?", answer("This is CONFIDENTIAL data"))
    assert result.status is RunStatus.FAILED and "output.deny_patterns" in (result.reason or "")
    assert ("output", "output.deny_patterns", "block") in verdicts(events)


def test_a_tool_outside_the_allow_list_never_runs(tmp_path: Path) -> None:
    g = {"tools": ["lookup"]}
    result, model, events = run(
        tmp_path, g, "look up x", call("other", q="x"), call("lookup", q="x"), answer("done")
    )
    assert result.status is RunStatus.SUCCEEDED and RAN == ["x"]
    error = model.requests[1].messages[-1].content
    assert "guardrail_blocked" in error and "'other' is not allowed" in error
    assert verdicts(events) == [("tool", "tools.allow", "block")]


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ("guardrails: {input: {deny_patterns: ['(unclosed']}}", "guardrails.input.deny_patterns"),
        ("guardrails: {input: {deny_termz: [x]}}", "guardrails.input.deny_termz"),
        ("guardrails: {output: {pii: maybe}}", "guardrails.output.pii"),
        ("guardrails: {output: {max_chars: 0}}", "guardrails.output.max_chars"),
    ],
)
def test_a_bad_guardrails_block_names_the_field(tmp_path: Path, block: str, needle: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(f"name: g\n{block}\n")
    with pytest.raises(AgentSpecError, match=needle.replace(".", r"\.")):
        load_agent(path)


def test_guardrails_load_from_yaml_and_count_in_the_version(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("name: g\nguardrails: {input: {deny_terms: [secret]}, tools: [calculator]}\n")
    agent = load_agent(path)
    assert agent.guardrails is not None and agent.guardrails.input.deny_terms == ["secret"]
    assert agent.version != Agent(name="g").version
