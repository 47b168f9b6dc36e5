"""Reflect mode: a draft with a bug runs in the real sandbox, its real error comes back, the
revised draft passes; each round is journaled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.agent_helpers import make_runtime, scripted
from tether import Agent
from tether.agent.spec import Limits
from tether.errors import AgentSpecError
from tether.plan.config import CriticConfig, ReflectConfig, Rule
from tether.testing import ScriptStep, answer
from tether.types import ModelRequest, RunStatus

BUGGY = """def mean(xs):
    return sum(xs) / len(x)
"""
FIXED = """def mean(xs):
    return sum(xs) / len(xs)
"""
TESTS = "assert mean([1, 2, 3]) == 2\nprint('tests passed')"


def sees_the_error(request: ModelRequest) -> bool:
    last = request.messages[-1].content or ""
    return "NameError: name 'x' is not defined" in last and "Round 1" in last


def coder(**over: Any) -> Agent:
    fields: dict[str, Any] = {
        "name": "coder",
        "instructions": "Write Python code.",
        "model": "scripted",
        "mode": "reflect",
        "tools": ["run_python_code"],
        "reflect": ReflectConfig(checker="sandbox", tests=TESTS, max_rounds=3),
        "limits": Limits(max_steps=10),
    }
    return Agent(**(fields | over))


def events(rt: Any, run_id: str, kind: str) -> list[Any]:
    return [e.payload for e in rt.store.journal.read(run_id) if e.kind == kind]


async def test_a_buggy_draft_is_fixed_with_the_sandboxes_real_error(tmp_path: Path) -> None:
    model = scripted(
        answer(f"```python\n{BUGGY}```"),
        ScriptStep(text=json.dumps({"code": FIXED}), expect=sees_the_error),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(coder(), "Write mean(xs).")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert result.output == FIXED
    rounds = events(rt, result.run_id, "reflect_round")
    assert [(r.round, r.passed, r.checker) for r in rounds] == [
        (1, False, "sandbox"),
        (2, True, "sandbox"),
    ]
    assert "NameError" in rounds[0].errors and "exit code 1" in rounds[0].errors
    # each check was an ordinary, journaled tool call of the run
    finished = events(rt, result.run_id, "tool_call_finished")
    assert [f.tool for f in finished] == ["run_python_code", "run_python_code"]
    assert finished[1].result["stdout"] == "tests passed\n"
    assert BUGGY in events(rt, result.run_id, "tool_call_started")[0].arguments["code"]
    rt.close()


async def test_rounds_are_capped(tmp_path: Path) -> None:
    model = scripted(answer(BUGGY), answer(BUGGY), answer(BUGGY + "\n"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(coder(reflect=ReflectConfig(tests=TESTS, max_rounds=2)), "mean")
    assert result.status is RunStatus.MAX_STEPS
    assert "reflect.max_rounds=2" in (result.reason or "")
    assert len(events(rt, result.run_id, "reflect_round")) == 2
    rt.close()


async def test_schema_checker_feeds_the_violation_back(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    model = scripted(
        answer('{"nome": "ada"}'),
        ScriptStep(
            text='{"name": "ada"}',
            expect=lambda r: "'name' is a required property" in (r.messages[-1].content or ""),
        ),
    )
    rt = make_runtime(tmp_path, model)
    agent = coder(tools=[], reflect=ReflectConfig(checker="schema", schema=schema))
    result = await rt.run(agent, "A person as JSON.")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED and result.output == '{"name": "ada"}'
    rt.close()


def test_bad_mode_settings_fail_on_load_naming_the_field() -> None:
    with pytest.raises(AgentSpecError, match=r"field 'reflect.checker'.*run_python_code"):
        coder(tools=[])
    with pytest.raises(AgentSpecError, match=r"field 'reflect.fn': cannot import 'nope:check'"):
        coder(reflect=ReflectConfig(checker="predicate", fn="nope:check"))
    bad = CriticConfig(rules={"echo": [Rule(check="predicate", fn="tests.plan.tools:missing")]})
    with pytest.raises(AgentSpecError, match=r"critic.rules.echo.0.fn"):
        coder(critic=bad)
