"""Code checks: each can pass and each can fail, on hand-made observations."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tether.evals import checks
from tether.evals.checks import match_value, trajectory_problem
from tether.evals.dataset import CallSpec, CaseBudget, Number, Trajectory
from tether.evals.observe import CallRecord, Observation


def verdict(check: checks.Check, obs: Observation) -> bool:
    return asyncio.run(check.run(obs)).passed


def call(tool: str, ok: bool = True, **args: object) -> CallRecord:
    return CallRecord(
        step=0,
        index=0,
        tool=tool,
        arguments=dict(args),
        ok=ok,
        result={"result": 391} if ok else None,
    )


OBS = Observation(
    goal="Compute 17 * 23.",
    status="succeeded",
    output="The result is 391.",
    steps=2,
    tool_calls=1,
    tokens=120,
    cost=Decimal("0.002"),
    latency_ms=40.0,
    calls=(call("calculator", expression="17 * 23"),),
)


def test_output_checks() -> None:
    assert verdict(checks.exact("The result is 391."), OBS)
    assert not verdict(checks.exact("391"), OBS)
    assert verdict(checks.contains(["RESULT", "391"]), OBS)
    assert not verdict(checks.contains(["392"]), OBS)
    assert verdict(checks.contains(["392"], negate=True), OBS)
    assert not verdict(checks.contains(["391"], negate=True), OBS)
    assert verdict(checks.regex(r"\b391\b"), OBS)
    assert not verdict(checks.regex(r"^391$"), OBS)
    assert verdict(checks.status_is("succeeded"), OBS)
    assert not verdict(checks.status_is("failed"), OBS)


def test_json_schema_and_numbers() -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    good = Observation(output='{"n": 3}')
    assert verdict(checks.json_output(schema), good)
    assert not verdict(checks.json_output(schema), Observation(output='{"n": "3"}'))
    assert not verdict(checks.json_output(schema), OBS)  # not JSON at all
    assert verdict(checks.numeric(Number(value=391)), OBS)
    assert verdict(checks.numeric(Number(value=390, tol=1.5)), OBS)
    assert not verdict(checks.numeric(Number(value=390)), OBS)
    assert verdict(checks.numeric(Number(value=1000, rel=0.01)), Observation(output="1,005"))


def test_argument_matchers() -> None:
    assert match_value({"$regex": r"^17 ?\* ?23$"}, "17*23")
    assert not match_value({"$regex": "^18"}, "17*23")
    assert match_value({"$contains": "orders"}, "data/orders.txt")
    assert match_value({"$approx": 3.0, "$tol": 0.1}, 3.05)
    assert not match_value({"$approx": 3.0, "$tol": 0.01}, 3.05)
    assert match_value({"$any": True}, None)
    assert match_value({"path": "a.txt"}, {"path": "a.txt", "extra": 1})  # a subset matches
    assert not match_value({"path": "a.txt"}, {"path": "b.txt"})


def test_trajectory_orders() -> None:
    calls = [
        call("read_file", path="a"),
        call("calculator", expression="1"),
        call("list_files", folder="."),
    ]
    read, calc = CallSpec(tool="read_file"), CallSpec(tool="calculator")
    assert trajectory_problem(Trajectory(calls=[read, calc], order="in_order"), calls) is None
    assert trajectory_problem(Trajectory(calls=[calc, read], order="in_order"), calls)
    assert trajectory_problem(Trajectory(calls=[read, calc], order="exact"), calls)  # extra call
    assert trajectory_problem(Trajectory(calls=[read, calc], order="subset"), calls) is None
    assert trajectory_problem(Trajectory(calls=[calc, read], order="any_order"), calls[:2]) is None
    assert trajectory_problem(Trajectory(calls=[], forbid=["list_files"]), calls)
    failed = [call("calculator", ok=False, expression="x")]
    assert trajectory_problem(Trajectory(calls=[calc], order="exact"), failed)
    assert (
        trajectory_problem(Trajectory(calls=[calc], order="exact", only_ok=False), failed) is None
    )


def test_bounds_check_cost_latency_steps_tokens() -> None:
    tight = CaseBudget(
        max_steps=1, max_tool_calls=0, max_tokens=100, max_cost=Decimal("0.001"), max_latency_ms=10
    )
    loose = CaseBudget(
        max_steps=2, max_tool_calls=1, max_tokens=120, max_cost=Decimal("0.002"), max_latency_ms=40
    )
    assert not any(verdict(c, OBS) for c in checks.bounds(tight))
    assert all(verdict(c, OBS) for c in checks.bounds(loose))
    assert [c.name for c in checks.bounds(loose)] == [
        "max_steps",
        "max_tool_calls",
        "max_tokens",
        "max_cost",
        "max_latency_ms",
    ]


def test_groundedness_and_retrieval() -> None:
    assert verdict(checks.grounded(), OBS)  # 391 is in the calculator's result
    made_up = Observation(output="The result is 392.", calls=OBS.calls)
    assert not verdict(checks.grounded(), made_up)
    hits = Observation(value=["Refunds are accepted within 30 days."])
    assert verdict(checks.retrieval(["within  30 days"]), hits)
    assert not verdict(checks.retrieval(["90 days"]), hits)


def is_polite(obs: Observation) -> tuple[bool, str]:
    return "please" in (obs.output or ""), "says please"


def test_custom_predicate_by_reference() -> None:
    check = checks.predicate("tests.evals.test_checks:is_polite")
    assert not verdict(check, OBS)
    assert verdict(check, Observation(output="please wait"))
