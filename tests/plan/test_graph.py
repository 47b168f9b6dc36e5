"""Plans and references, pure: schema, validation before anything runs, $ref resolution."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from tether.plan.graph import PlanError, parse_plan, plan_schema, validate
from tether.plan.refs import RefError, refs_in, resolve
from tether.plan.sampling import pick_by_agreement
from tether.tools import BUILTIN_TOOLS

TOOLS = ["calculator", "read_file"]


def step(sid: str, tool: str = "calculator", **args: object) -> dict[str, object]:
    return {"id": sid, "tool": tool, "args": args or {"expression": "1+1"}}


def test_schema_tool_field_is_an_enum_of_the_agents_tools() -> None:
    contracts = [t.contract for t in BUILTIN_TOOLS if t.contract.name in TOOLS]
    schema = plan_schema(contracts, 4)
    branches = schema["properties"]["steps"]["anyOf"][0]["prefixItems"][0]["anyOf"]
    assert sorted(b["properties"]["tool"]["enum"][0] for b in branches) == sorted(TOOLS)
    check = Draft202012Validator(schema)
    ok = {"steps": [positional()], "answer": "$s1.result"}
    assert not list(check.iter_errors(ok))
    assert list(check.iter_errors({"steps": [positional("rm_rf")], "answer": ""}))
    by_ref = {"steps": [positional(), positional(expression="$s1.result")], "answer": ""}
    assert not list(check.iter_errors(by_ref))
    # ids are positional: the model cannot write (and so cannot repeat) one
    assert list(check.iter_errors({"steps": [step("s1")], "answer": ""}))
    wild = {"steps": [positional(), {**positional(), "depends_on": ["expression"]}], "answer": ""}
    assert list(check.iter_errors(wild))
    ahead = {"steps": [{**positional(), "depends_on": ["s1"]}], "answer": ""}  # itself
    assert list(check.iter_errors(ahead))
    with pytest.raises(PlanError, match="depends on itself"):
        validate({"steps": [positional(expression="$s1.result")]}, TOOLS, 4)
    assert list(check.iter_errors({"steps": [positional()] * 5, "answer": ""}))  # > max
    plan = validate(by_ref, TOOLS, 4)
    assert [s.id for s in plan.steps] == ["s1", "s2"] and plan.step("s2").needs == {"s1"}


def positional(tool: str = "calculator", **args: object) -> dict[str, object]:
    return {"tool": tool, "args": args or {"expression": "1+1"}}


def test_a_tool_outside_the_agents_set_is_rejected_naming_it() -> None:
    with pytest.raises(PlanError, match=r"'send_email'.*its tools: calculator, read_file"):
        validate({"steps": [step("s1", "send_email")]}, TOOLS, 8)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([step("s1"), step("s1")], "ids repeat: s1"),
        ([{**step("s1"), "depends_on": ["s9"]}], "s9, which the plan does not have"),
        ([step("s1", expression="$s3.x")], "s3, which the plan does not have"),
        ([{**step("a"), "depends_on": ["b"]}, {**step("b"), "depends_on": ["a"]}], "cycle"),
        ([step(f"s{i}") for i in range(5)], "more than max_plan_steps=4"),
    ],
)
def test_bad_graphs_are_rejected(steps: list[object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        validate({"steps": steps}, TOOLS, 4)


def test_not_json_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="not JSON"):
        parse_plan("Sure! Here is my plan", TOOLS, 4)


def test_dependencies_include_references_and_ready_steps_follow_them() -> None:
    plan = validate(
        {
            "steps": [
                step("a"),
                step("b"),
                step("c", expression="$a.result + $b.result"),
                {**step("d"), "depends_on": ["c"]},
            ]
        },
        TOOLS,
        8,
    )
    assert [s.id for s in plan.ready(set())] == ["a", "b"]
    assert [s.id for s in plan.ready({"a"}, {"b"})] == []
    assert [s.id for s in plan.ready({"a", "b"})] == ["c"]
    assert plan.step("c").needs == {"a", "b"}


def test_refs_resolve_nested_fields_and_list_indexes() -> None:
    results = {"s1": {"rows": [{"name": "ada", "tags": ["x", "y"]}]}, "s2": {"text": "hi"}}
    assert resolve("$s1.rows", results) == [{"name": "ada", "tags": ["x", "y"]}]
    assert resolve("$s1.rows.0.name", results) == "ada"
    assert resolve("$s1.rows[0].tags[1]", results) == "y"
    assert resolve({"q": ["$s2.text", 3], "n": "$s1.rows.0"}, results) == {
        "q": ["hi", 3],
        "n": {"name": "ada", "tags": ["x", "y"]},
    }
    assert resolve("say $s2.text to $s1.rows.0.name", results) == "say hi to ada"
    assert resolve("rows: $s1.rows.0.tags", results) == 'rows: ["x", "y"]'
    assert refs_in({"a": ["$s1.x", {"b": "$s2"}]}) == {"s1", "s2"}


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("$s1.cols", r"has no field 'cols' \(fields: rows\)"),
        ("$s1.rows.5", "has 1 items; there is no item 5"),
        ("$s1.rows.0.name.first", "is a str, not an object or a list"),
        ("$s9.text", r"step 's9', which has no result \(results: s1\)"),
    ],
)
def test_a_missing_field_is_a_ref_error_naming_what_exists(ref: str, message: str) -> None:
    with pytest.raises(RefError, match=message):
        resolve(ref, {"s1": {"rows": [{"name": "ada"}]}})


def test_self_consistency_picks_the_plan_most_samples_agree_on() -> None:
    one = validate({"steps": [step("s1", expression="2*3")], "confidence": 0.9}, TOOLS, 4)
    two = validate({"steps": [step("x", expression="2*3")], "confidence": 0.2}, TOOLS, 4)
    other = validate({"steps": [step("s1", expression="2+3")], "confidence": 0.95}, TOOLS, 4)
    choice = pick_by_agreement([other, two, one])
    assert (choice.agreement, choice.samples) == (2, 3)
    assert choice.plan is one  # of the two that agree, the more confident
    assert json.loads(json.dumps(choice.plan.to_json()))["steps"][0]["tool"] == "calculator"
