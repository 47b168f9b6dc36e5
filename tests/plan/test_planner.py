"""Plan mode on the scripted model: parallel waves, references, re-planning, caps, rejection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agent_helpers import make_runtime, scripted
from tests.plan import tools as t
from tether import Agent
from tether.agent.spec import Limits
from tether.plan.config import CriticConfig, PlanConfig, Rule
from tether.testing import answer
from tether.testing.scripted import ScriptStep
from tether.types import RunStatus


def plan(*steps: dict[str, Any], answer_text: str = "", confidence: float = 0.9) -> ScriptStep:
    return answer(
        json.dumps({"steps": list(steps), "answer": answer_text, "confidence": confidence})
    )


def step(sid: str, tool: str, deps: tuple[str, ...] = (), **args: Any) -> dict[str, Any]:
    return {"id": sid, "tool": tool, "args": args, "depends_on": list(deps)}


def planner(**over: Any) -> Agent:
    fields: dict[str, Any] = {
        "name": "planner",
        "model": "scripted",
        "mode": "plan",
        "tools": [t.slow_a, t.slow_b, t.echo],
        "limits": Limits(max_steps=20, max_tool_calls=20),
    }
    return Agent(**(fields | over))


def events(rt: Any, run_id: str, kind: str) -> list[Any]:
    return [e.payload for e in rt.store.journal.read(run_id) if e.kind == kind]


async def test_independent_steps_overlap_and_refs_feed_the_next_wave(tmp_path: Path) -> None:
    t.SPANS.clear()
    model = scripted(
        plan(
            step("s1", "slow_a", topic="x"),
            step("s2", "slow_b", topic="y"),
            step("s3", "echo", text="$s1.rows.0.name and $s2.text"),
            answer_text="done: $s3.text",
        )
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(planner(), "Look up x and y, then combine them.")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert result.output == "done: x and b says y"
    (a_start, a_end), (b_start, b_end) = t.SPANS["a"], t.SPANS["b"]
    assert a_start < b_end and b_start < a_end  # the two slow reads ran at the same time
    waves = events(rt, result.run_id, "plan_wave")
    assert [w.step_ids for w in waves] == [["s1", "s2"], ["s3"]]
    assert waves[1].calls[0]["arguments"] == {"text": "x and b says y"}
    verdicts = events(rt, result.run_id, "critic_verdict")
    assert [(v.target, v.verdict) for v in verdicts] == [
        ("s1", "pass"),
        ("s2", "pass"),
        ("s3", "pass"),
        ("goal", "pass"),
    ]
    (created,) = events(rt, result.run_id, "plan_created")
    assert created.accepted and created.version == 1
    assert result.tool_calls == 3
    rt.close()


async def test_a_missing_field_fails_the_step_and_a_re_plan_succeeds(tmp_path: Path) -> None:
    t.CALLS.clear()
    model = scripted(
        plan(step("s1", "echo", text="hi"), step("s2", "echo", text="$s1.nope")),
        plan(
            step("s1", "echo", text="hi"),
            step("s2", "echo", text="$s1.text!"),
            answer_text="$s2.text",
        ),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(planner(), "Echo hi, then echo it again loudly.")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert result.output == "hi!"
    (failed,) = events(rt, result.run_id, "plan_step_failed")
    assert failed.step_id == "s2" and "has no field 'nope' (fields: length, text)" in failed.error
    (revised,) = events(rt, result.run_id, "plan_revised")
    assert revised.version == 2 and revised.accepted and "nope" in (revised.reason or "")
    # the revision saw the failure, and the unchanged step s1 was not run again
    note = model.requests[1].messages[-1].content
    assert "has no field 'nope'" in note and "$s1 = " in note
    assert t.CALLS == ["echo:hi", "echo:hi!"]
    rt.close()


async def test_a_failing_tool_step_triggers_a_re_plan_that_succeeds(tmp_path: Path) -> None:
    rules = CriticConfig(
        rules={"echo": [Rule(check="predicate", fn="tests.plan.tools:total_is_positive")]}
    )
    model = scripted(
        plan(step("s1", "echo", text="")),
        plan(step("s1", "echo", text="hello"), answer_text="$s1.text"),
    )
    rt = make_runtime(tmp_path, model)
    agent = planner(critic=rules, plan=PlanConfig(success_check="tests.plan.tools:goal_has_hello"))
    result = await rt.run(agent, "Echo a greeting.")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED and result.output == "hello"
    verdicts = [(v.target, v.verdict) for v in events(rt, result.run_id, "critic_verdict")]
    assert verdicts == [("s1", "fail"), ("s1", "pass"), ("goal", "pass")]
    first = events(rt, result.run_id, "critic_verdict")[0]
    assert "predicate check" in first.explain
    rt.close()


async def test_an_endless_re_plan_cycle_is_stopped_by_the_caps(tmp_path: Path) -> None:
    broken = [plan(step("s1", "echo", text=f"$s9.x{n}")) for n in range(10)]  # never valid
    model = scripted(*broken)
    rt = make_runtime(tmp_path, model)
    result = await rt.run(planner(plan=PlanConfig(max_revisions=2)), "Echo something.")
    assert result.status is RunStatus.MAX_STEPS
    assert "plan.max_revisions=2" in (result.reason or "")
    assert len(model.requests) == 3  # the first plan and two revisions, then it stopped
    created = events(rt, result.run_id, "plan_created") + events(rt, result.run_id, "plan_revised")
    assert [p.accepted for p in created] == [False, False, False]
    assert result.tool_calls == 0
    rt.close()


async def test_the_same_failing_plan_again_is_no_progress(tmp_path: Path) -> None:
    same = plan(step("s1", "echo", text="hi"), step("s2", "echo", text="$s1.missing"))
    model = scripted(same, same)
    rt = make_runtime(tmp_path, model)
    result = await rt.run(planner(), "Echo.")
    model.assert_consumed()
    assert result.status is RunStatus.NO_PROGRESS
    assert "repeats one that failed" in (result.reason or "")
    rt.close()


async def test_a_plan_naming_a_tool_outside_the_agents_set_never_runs(tmp_path: Path) -> None:
    t.CALLS.clear()
    model = scripted(
        plan(step("s1", "echo", text="a"), step("s2", "delete_everything", path="/")),
        plan(step("s1", "echo", text="a"), answer_text="$s1.text"),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(planner(), "Echo a.")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED
    (rejected,) = events(rt, result.run_id, "plan_created")
    assert not rejected.accepted and "'delete_everything'" in (rejected.error or "")
    assert t.CALLS == ["echo:a"]  # nothing of the rejected plan ran
    assert len(events(rt, result.run_id, "plan_wave")) == 1
    rt.close()


async def test_total_steps_cap_stops_a_long_run(tmp_path: Path) -> None:
    chain = [step("s1", "echo", text="a")] + [
        step(f"s{i}", "echo", text=f"$s{i - 1}.text+") for i in range(2, 7)
    ]
    model = scripted(plan(*chain))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(planner(limits=Limits(max_steps=4)), "Echo a chain.")
    assert result.status is RunStatus.MAX_STEPS
    assert len(events(rt, result.run_id, "plan_wave")) == 3  # 1 model call + 3 waves = 4 steps
    rt.close()


async def test_low_confidence_samples_variants_and_picks_by_agreement(tmp_path: Path) -> None:
    good = step("s1", "echo", text="yes")
    model = scripted(
        plan(good, answer_text="$s1.text", confidence=0.2),
        plan(step("s1", "echo", text="no"), confidence=0.9),
        plan(good, answer_text="$s1.text", confidence=0.4),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(planner(plan=PlanConfig(samples=3, sample_below=0.5)), "Say yes.")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED and result.output == "yes"
    (created,) = events(rt, result.run_id, "plan_created")
    assert (created.samples, created.agreement) == (3, 2)
    assert [r.settings.seed for r in model.requests] == [0, 1, 2]
    rt.close()
