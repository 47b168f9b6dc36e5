"""LLM-as-judge: binary rubric scores as JSON, validated; the judge's calls are a tether run,
journaled like any other."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tether.evals.dataset import Criterion, JudgeSpec
from tether.evals.harness import Harness
from tether.evals.judge import Judge, JudgeCheck, judge_prompt, parse_grade
from tether.evals.observe import Observation
from tether.events import ModelRequested
from tether.testing import ScriptedModel, answer

RUBRIC = [Criterion(id="total", text="States 395 EUR."), Criterion(id="how", text="Shows how.")]


def test_parse_grade_accepts_only_the_asked_for_json() -> None:
    ok = parse_grade('Sure: {"scores": [1, 0], "total": 1, "explanation": "no steps"}', 2)
    assert ok.valid and ok.scores == (1, 0) and ok.total == 1
    assert not parse_grade("I think it is fine", 2).valid
    assert not parse_grade('{"scores": [1], "total": 1}', 2).valid  # one score per criterion
    assert not parse_grade('{"scores": [1, 2], "total": 3}', 2).valid  # binary only
    assert not parse_grade('{"scores": [true, false], "total": 1}', 2).valid
    wrong_sum = parse_grade('{"scores": [1, 1], "total": 1, "explanation": "x"}', 2)
    assert not wrong_sum.valid and "not the sum" in wrong_sum.explanation


def test_the_prompt_grades_one_answer_never_a_pair() -> None:
    prompt = judge_prompt("What is the total?", "395 EUR", RUBRIC, context="17 * 23 + 4")
    assert prompt.count("Answer to grade:") == 1 and "1. States 395 EUR." in prompt
    assert "Answer A" not in prompt and "better" not in prompt


def test_judge_runs_are_journaled(tmp_path: Path) -> None:
    harness = Harness.open(tmp_path)
    reply = '{"scores": [1, 1], "total": 2, "explanation": "both"}'
    try:
        judge = Judge(runner=harness, model=ScriptedModel(steps=[answer(reply)]))
        check = JudgeCheck(judge=judge, spec=JudgeSpec(rubric=RUBRIC))
        obs = Observation(goal="What is the total?", output="395 EUR = 17*23 + 4")
        verdict = asyncio.run(check.run(obs))
        run_id = verdict.detail.rsplit("judge run ", 1)[1].rstrip("]")
        events = harness.runtime.store.journal.read(run_id)
        record = harness.runtime.store.runs.get(run_id)
    finally:
        harness.close()
    assert verdict.passed and verdict.score == 1.0
    assert record.agent == "judge" and record.status.value == "succeeded"
    (request,) = [e.payload for e in events if isinstance(e.payload, ModelRequested)]
    assert "Answer to grade: 395 EUR" in request.messages[-1]["content"]


def test_a_failing_or_invalid_grade_fails_the_check(tmp_path: Path) -> None:
    harness = Harness.open(tmp_path)
    try:
        for reply, why in [('{"scores": [1, 0], "total": 1}', "1/2"), ("looks good", "not JSON")]:
            judge = Judge(runner=harness, model=ScriptedModel(steps=[answer(reply)]))
            check = JudgeCheck(judge=judge, spec=JudgeSpec(rubric=RUBRIC))
            verdict = asyncio.run(check.run(Observation(goal="q", output="a")))
            assert not verdict.passed and why in verdict.detail
    finally:
        harness.close()
