"""The arbiter's pure decisions: budgets, turns, loops, speakers, conflicts."""

from __future__ import annotations

from decimal import Decimal

from tether.governance.budget import Budget, Spend
from tether.team import ArbiterSpec
from tether.team import arbiter as a
from tether.team.arbiter import Said
from tether.types import RunStatus


def test_allowance_is_the_tighter_of_team_and_role_budgets() -> None:
    got = a.allowance(
        Budget(tokens=1000, money=Decimal("1")),
        Budget(tokens=300),
        Spend(tokens=800, money_micros=250_000),
        Spend(tokens=100),
        "writer",
    )
    assert got == Budget(tokens=200, money=Decimal("0.75"))
    assert a.allowance(Budget(), Budget(), Spend(), Spend(), "w") == Budget()


def test_allowance_stops_when_a_budget_is_used_up() -> None:
    got = a.allowance(
        Budget(tokens=1000), Budget(tokens=300), Spend(tokens=500), Spend(tokens=300), "w"
    )
    assert isinstance(got, a.Decision)
    assert (got.rule, got.status) == ("budget", RunStatus.BUDGET_EXCEEDED)
    assert "role 'w'" in got.reason


def test_max_turns_and_loops() -> None:
    rules = ArbiterSpec(max_turns=3, max_repeats=1, no_progress_turns=2)
    assert a.before_turn(rules, 2, "x") is None
    stop = a.before_turn(rules, 3, "x")
    assert stop is not None and stop.status is RunStatus.MAX_STEPS
    said = [
        Said(role="x", text="Hello there!"),
        Said(role="y", text="hi"),
        Said(role="x", text="hello, there"),
    ]
    looped = a.after_turn(rules, said)
    assert looped is not None and looped.rule == "repetition"
    stale = [Said(role="x", text="a b c"), Said(role="y", text="b c"), Said(role="z", text="c a")]
    stalled = a.after_turn(rules, stale)
    assert stalled is not None and stalled.rule == "no_progress"
    fresh = [Said(role="x", text="a"), Said(role="y", text="b"), Said(role="z", text="c")]
    assert a.after_turn(rules, fresh) is None


def test_refused_handoffs() -> None:
    rules = ArbiterSpec(max_turns=5, max_repeats=1)
    assert a.refuse_handoff(rules, 1, [], "m", "add 1+1") is None
    again = a.refuse_handoff(rules, 2, [("m", "Add 1+1.")], "m", "add 1+1")
    assert again is not None and again.rule == "repetition"
    full = a.refuse_handoff(rules, 5, [], "m", "x")
    assert full is not None and full.rule == "max_turns"


def test_speakers_by_order_or_mention() -> None:
    order, roles = ["a", "b", "c"], ["a", "b", "c"]
    assert a.next_speaker(order, "round_robin", [], roles) == "a"
    assert a.next_speaker(order, "round_robin", [Said(role="c", text="x")], roles) == "a"
    said = [Said(role="a", text="@c your turn")]
    assert a.next_speaker(order, "mention", said, roles) == "c"
    assert a.next_speaker(order, "round_robin", said, roles) == "b"
    assert a.next_speaker(order, "mention", [Said(role="a", text="@zed?")], roles) == "b"


def test_conflicts_resolve_by_the_declared_rule() -> None:
    props = [Said(role="a", text="42"), Said(role="b", text="41"), Said(role="c", text="42!")]
    assert a.resolve("first", props, [])[0].role == "a"
    assert a.resolve("last", props, [])[0].role == "c"
    chosen, why = a.resolve("majority", props, [])
    assert chosen.text == "42" and "2 of 3" in why
    assert a.resolve("priority", props, ["b", "a"])[0].role == "b"
