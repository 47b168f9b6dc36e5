"""Simulated users: a scripted persona drives a multi-turn case to its end."""

from __future__ import annotations

from pathlib import Path

from tests.evals.helpers import run, write_dataset

CASE = {
    "id": "refund-chat",
    "input": "I want to know what my order cost.",
    "agent": "assistant",
    "user": {
        "persona": "a customer who gives details only when asked",
        "replies": [
            {"when": "which order", "say": "It was 17 boxes at 23 EUR each."},
            {"when": "391", "say": None},
        ],
        "max_turns": 4,
    },
    "script": [
        {"answer": "Sure: which order do you mean?"},
        {"call": {"tool": "calculator", "args": {"expression": "17 * 23"}}},
        {"answer": "That is 391 EUR."},
    ],
    "expect": {
        "number": {"value": 391},
        "trajectory": {"order": "exact", "calls": [{"tool": "calculator"}]},
    },
}


def test_the_user_simulator_answers_until_it_is_done(tmp_path: Path) -> None:
    result = run(write_dataset(tmp_path, [CASE]), tmp_path)
    (attempt,) = result.attempts
    assert attempt.passed, [v.to_json() for v in attempt.verdicts]
    transcript = attempt.obs.value
    assert [who for who, _ in transcript] == ["User", "Assistant", "User", "Assistant"]
    assert transcript[2][1] == "It was 17 boxes at 23 EUR each."
    assert attempt.obs.steps == 3  # two turns: one model call, then two
    goals = [getattr(e.payload, "goal", "") for e in attempt.obs.events]
    assert any("User: It was 17 boxes" in g and "Assistant: Sure" in g for g in goals)
