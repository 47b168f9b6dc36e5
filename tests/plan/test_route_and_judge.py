"""``mode: auto`` routing and model choice; the LLM rubric judge and human review."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agent_helpers import make_runtime, scripted
from tests.plan import tools as t
from tests.plan.test_planner import events, plan, step
from tether import Agent, Runtime
from tether.agent.spec import Limits
from tether.plan.config import CriticConfig, Judge
from tether.plan.route import classify
from tether.settings import Settings
from tether.testing import ScriptedModel, answer, call
from tether.tools import BUILTIN_TOOLS
from tether.types import RunStatus

CONTRACTS = [tool.contract for tool in BUILTIN_TOOLS]


def test_simple_goals_go_to_react_and_complex_ones_to_the_planner() -> None:
    assert classify("What is 17*23?", CONTRACTS, None).mode == "react"
    multi = classify("Read orders.txt, then use the calculator to compute 17 * 23", CONTRACTS, None)
    assert multi.mode == "plan" and "2 parts" in multi.reason
    assert classify("Compare the prices in a.txt and b.txt", CONTRACTS, None).mode == "plan"
    assert classify(" ".join(["word"] * 45), CONTRACTS, None).mode == "plan"


def two_models(tmp_path: Path, fast: ScriptedModel, strong: ScriptedModel) -> Runtime:
    s = Settings(home=tmp_path / "home", workspace=tmp_path)
    return Runtime(settings=s, models={"fast": fast, "strong": strong})


def auto_agent() -> Agent:
    return Agent(
        name="router",
        model="strong",
        mode="auto",
        planner_model="strong",
        fast_model="fast",
        tools=["calculator", t.echo],
        limits=Limits(max_steps=10),
        preselect_k=8,
    )


async def test_auto_sends_a_simple_goal_to_react_on_the_fast_model(tmp_path: Path) -> None:
    fast = ScriptedModel(steps=[call("calculator", expression="2+3"), answer("5")], model_id="fast")
    strong = ScriptedModel(steps=[], model_id="strong")
    rt = two_models(tmp_path, fast, strong)
    result = await rt.run(auto_agent(), "What is 2+3?")
    fast.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED and result.output == "5"
    assert not strong.requests
    (route,) = events(rt, result.run_id, "route_chosen")
    assert (route.mode, route.model) == ("react", "fast")
    rt.close()


async def test_auto_sends_a_complex_goal_to_the_planner_model(tmp_path: Path) -> None:
    fast = ScriptedModel(steps=[], model_id="fast")
    strong = ScriptedModel(
        steps=[
            plan(
                step("s1", "calculator", expression="17*23"),
                step("s2", "echo", text="total $s1.result"),
                answer_text="$s2.text",
            )
        ],
        model_id="strong",
    )
    rt = two_models(tmp_path, fast, strong)
    goal = "Use the calculator to compute 17*23, then echo the total."
    result = await rt.run(auto_agent(), goal)
    strong.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED and result.output == "total 391"
    assert not fast.requests
    (route,) = events(rt, result.run_id, "route_chosen")
    assert (route.mode, route.model) == ("plan", "strong")
    rt.close()


def verdict(passes: list[bool], confidence: float) -> Any:
    return answer(
        json.dumps(
            {"criteria": [{"pass": p, "why": "checked"} for p in passes], "confidence": confidence}
        )
    )


def judged(review_below: float = 0.0) -> Agent:
    judge = Judge(criteria=["mentions hello", "is short"], review_below=review_below)
    return Agent(
        name="judged",
        model="scripted",
        mode="plan",
        tools=[t.echo],
        critic=CriticConfig(judge=judge),
        limits=Limits(max_steps=10),
    )


async def test_the_rubric_judge_fails_the_goal_and_the_revision_passes(tmp_path: Path) -> None:
    model = scripted(
        plan(step("s1", "echo", text="bye"), answer_text="$s1.text"),
        verdict([False, True], 0.9),
        plan(step("s1", "echo", text="hello"), answer_text="$s1.text"),
        verdict([True, True], 0.9),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(judged(), "Greet.")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED and result.output == "hello"
    goals = [v for v in events(rt, result.run_id, "critic_verdict") if v.target == "goal"]
    assert [g.verdict for g in goals] == ["fail", "pass"]
    assert goals[0].checks[0] == {"criterion": "mentions hello", "pass": False, "why": "checked"}
    assert goals[0].judge == "scripted"
    assert "goal check failed" in (events(rt, result.run_id, "plan_revised")[0].reason or "")
    rt.close()


async def test_low_judge_confidence_routes_the_run_to_human_review(tmp_path: Path) -> None:
    model = scripted(plan(step("s1", "echo", text="hello")), verdict([True, True], 0.3))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(judged(review_below=0.6), "Greet.")
    model.assert_consumed()
    assert result.status is RunStatus.NEEDS_REVIEW
    assert "confidence 0.30" in (result.reason or "")
    assert rt.store.runs.get(result.run_id).status is RunStatus.NEEDS_REVIEW
    rt.close()
