"""Acceptance 5: error analysis charges each failure of a mixed failing set to the component
where it went wrong, read from the runs' journals."""

from __future__ import annotations

from pathlib import Path

from tests.evals.agents import mixed_agent
from tests.evals.helpers import run, write_dataset


def calc(expr: str) -> dict[str, object]:
    return {"call": {"tool": "calculator", "args": {"expression": expr}}}


CALC_391 = {
    "trajectory": {"order": "exact", "calls": [{"tool": "calculator"}]},
    "number": {"value": 391},
}
READ_ORDERS = {
    "trajectory": {
        "order": "exact",
        "calls": [{"tool": "read_file", "args": {"path": "orders.txt"}}],
    }
}
# case id -> (case, the component its failure must be charged to)
MIXED: dict[str, tuple[dict[str, object], str]] = {
    "wrong-tool": (
        {
            "input": "Read orders.txt.",
            "expect": READ_ORDERS,
            "script": [{"call": {"tool": "current_datetime", "args": {}}}, {"answer": "done"}],
        },
        "wrong_tool",
    ),
    "unknown-tool": (
        {
            "input": "Read orders.txt.",
            "expect": READ_ORDERS,
            "script": [
                {"call": {"tool": "open_document", "args": {"name": "orders"}}},
                {"answer": "done"},
            ],
        },
        "wrong_tool",
    ),
    "invalid-args": (
        {
            "input": "Compute 17 * 23.",
            "expect": CALC_391,
            "script": [calc("17 times 23"), {"answer": "It is 391."}],
        },
        "bad_arguments",
    ),
    "wrong-args": (
        {
            "input": "Read orders.txt.",
            "expect": READ_ORDERS,
            "files": {"notes.txt": "nothing here"},
            "script": [
                {"call": {"tool": "read_file", "args": {"path": "notes.txt"}}},
                {"answer": "done"},
            ],
        },
        "bad_arguments",
    ),
    "tool-error": (
        {
            "input": "How many X1 are in stock?",
            "expect": {"contains": ["12"]},
            "script": [
                {"call": {"tool": "inventory_lookup", "args": {"sku": "X1"}}},
                {"answer": "I could not check the stock."},
            ],
        },
        "tool_error",
    ),
    "blocked": (
        {
            "input": "List the files.",
            "expect": {"contains": ["orders.txt"]},
            "script": [
                {"call": {"tool": "list_files", "args": {}}},
                {"answer": "I cannot list files."},
            ],
        },
        "policy_block",
    ),
    "over-budget": (
        {
            "input": "Compute 17 * 23.",
            "expect": {"number": {"value": 391}},
            "budget": {"max_tool_calls": 1},
            "script": [calc("17 * 2"), calc("17 * 23"), {"answer": "391"}],
        },
        "budget",
    ),
    "no-plan": (
        {"input": "Compute 17 * 23.", "expect": CALC_391, "script": [{"answer": "It is 391."}]},
        "planner",
    ),
    "model-down": (
        {
            "input": "Compute 17 * 23.",
            "expect": CALC_391,
            "script": [{"error": "model server unreachable"}],
        },
        "planner",
    ),
    "bad-answer": (
        {
            "input": "Compute 17 * 23.",
            "expect": CALC_391,
            "script": [calc("17 * 23"), {"answer": "The result is 392."}],
        },
        "final_synthesis",
    ),
    "missed-passage": (
        {
            "component": "retrieval",
            "input": "How long is the warranty?",
            "corpus": ["Our office opens at 9am.", "Parking is free on Sundays."],
            "k": 1,
            "expect": {"retrieved": ["two-year warranty"]},
        },
        "retrieval_miss",
    ),
    "lenient-judge": (
        {
            "component": "judge",
            "judge": {
                "question": "What is 17 * 23?",
                "answer": "392",
                "rubric": [{"id": "right", "text": "The answer is 391."}],
                "expect_pass": False,
                "script": ['{"scores": [1], "total": 1, "explanation": "looks fine"}'],
            },
        },
        "judge",
    ),
}


def test_each_failure_is_charged_to_its_component(tmp_path: Path) -> None:
    cases = [{"id": cid, **case} for cid, (case, _) in MIXED.items()]
    root = Path(__file__).resolve().parents[2]
    path = write_dataset(tmp_path, cases, workspace=str(root / "examples" / "workspace"))
    result = run(path, tmp_path, agent=mixed_agent())
    charged = {a.case_id: a.failure.component if a.failure else None for a in result.attempts}
    assert not any(a.passed for a in result.attempts)
    assert charged == {cid: component for cid, (_, component) in MIXED.items()}
    table = {g.component: g.count for g in result.failures()}
    assert table == {
        "wrong_tool": 2,
        "bad_arguments": 2,
        "planner": 2,
        "tool_error": 1,
        "policy_block": 1,
        "budget": 1,
        "final_synthesis": 1,
        "retrieval_miss": 1,
        "judge": 1,
    }
    example = next(g for g in result.failures() if g.component == "tool_error").examples[0]
    assert example["case"] == "tool-error" and example["run_id"].startswith("run_")
