"""The group chat protocol end to end, and the arbiter stopping chats that would never end."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.team.helpers import role, script, team_runtime
from tether.events import ArbiterDecision, RunFinished, TeamTurn
from tether.governance.budget import Budget
from tether.team import ArbiterSpec, Team
from tether.team.costs import role_costs
from tether.testing import ScriptStep, answer
from tether.types import RunStatus


def _chat(**kw: object) -> Team:
    return Team(
        name="panel",
        protocol="group_chat",
        roles=[role("alice"), role("bob"), role("carol")],
        until="FINAL:",
        **kw,  # type: ignore[arg-type]
    )


async def test_chat_ends_when_a_majority_agrees(tmp_path: Path) -> None:
    alice = script(answer("I think it is 41."), answer("FINAL: 42"))
    bob = script(answer("It is 42, 6 times 7."))
    carol = script(answer("FINAL: 42"))
    rt = team_runtime(tmp_path, {"alice": alice, "bob": bob, "carol": carol})
    team = _chat(arbiter=ArbiterSpec(conflict="majority"))
    result = await rt.run(team, "What is 6*7?")
    for m in (alice, bob, carol):
        m.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED and result.output == "42"
    events = rt.store.journal.read(result.run_id)
    speakers = [e.payload.role for e in events if isinstance(e.payload, TeamTurn)]
    assert speakers == ["alice", "bob", "carol", "alice"]  # carol alone is no majority
    # each speaker saw the transcript so far
    assert "[alice]: I think it is 41." in (carol.requests[0].messages[-1].content or "")
    decisions = [e.payload for e in events if isinstance(e.payload, ArbiterDecision)]
    assert [(d.decision, d.rule) for d in decisions] == [("resolve", "conflict:majority")]
    rt.close()


async def test_mentions_pick_the_next_speaker(tmp_path: Path) -> None:
    alice = script(answer("@carol what do you think?"))
    carol = script(answer("FINAL: yes"))
    rt = team_runtime(tmp_path, {"alice": alice, "bob": script(), "carol": carol})
    result = await rt.run(_chat(selector="mention"), "Is it?")
    assert result.status is RunStatus.SUCCEEDED and result.output == "yes"
    rt.close()


async def test_a_chat_that_would_loop_forever_is_stopped_within_its_budget(
    tmp_path: Path,
) -> None:
    # every role would go on forever, saying the same thing each turn
    scripts = {
        n: script(answer(f"{n}: let us think more."), repeat_last=True)
        for n in ("alice", "bob", "carol")
    }
    rt = team_runtime(tmp_path, scripts)
    team = _chat(budget=Budget(tokens=5000), arbiter=ArbiterSpec(max_turns=50))
    result = await rt.run(team, "Decide.")
    assert result.status is RunStatus.NO_PROGRESS
    events = rt.store.journal.read(result.run_id)
    (stop,) = [e.payload for e in events if isinstance(e.payload, ArbiterDecision)]
    assert (stop.decision, stop.rule, stop.role) == ("stop", "repetition", "alice")
    turns = [e for e in events if isinstance(e.payload, TeamTurn)]
    assert len(turns) == 4  # alice, bob, carol, alice again: the repeat stops it
    assert result.usage.total_tokens < 5000
    rt.close()


async def test_new_words_forever_hit_max_turns(tmp_path: Path) -> None:
    def endless(name: str) -> list[ScriptStep]:
        return [answer(f"{name} idea number {i}") for i in range(20)]

    scripts = {n: script(*endless(n)) for n in ("alice", "bob", "carol")}
    rt = team_runtime(tmp_path, scripts)
    result = await rt.run(_chat(arbiter=ArbiterSpec(max_turns=5)), "Brainstorm.")
    assert result.status is RunStatus.MAX_STEPS
    assert "max_turns=5" in (result.reason or "")
    events = rt.store.journal.read(result.run_id)
    assert sum(isinstance(e.payload, TeamTurn) for e in events) == 5
    rt.close()


async def test_the_team_budget_stops_the_chat(tmp_path: Path) -> None:
    def endless(name: str) -> list[ScriptStep]:
        return [answer(f"{name} says thing {i} " + "word " * 40) for i in range(20)]

    scripts = {n: script(*endless(n)) for n in ("alice", "bob", "carol")}
    rt = team_runtime(tmp_path, scripts)
    team = _chat(budget=Budget(tokens=600), arbiter=ArbiterSpec(max_turns=50))
    result = await rt.run(team, "Talk.")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    events = rt.store.journal.read(result.run_id)
    stops = [e.payload for e in events if isinstance(e.payload, ArbiterDecision)]
    assert stops and stops[-1].rule in ("budget", "role_stopped")
    # no model call started once the budget was gone: at most one call's overshoot
    per_call = max(e.payload.tokens for e in events if e.kind == "budget_charged")  # type: ignore[union-attr]
    assert result.usage.total_tokens <= 600 + per_call
    rt.close()


async def test_per_role_costs_add_up_to_the_run_total(tmp_path: Path) -> None:
    def priced(text: str, cents: int) -> ScriptStep:
        return ScriptStep(text=text, cost=Decimal(cents) / 100)

    alice = script(priced("I think 41.", 3), priced("FINAL: 42", 1))
    bob = script(priced("It is 42.", 2))
    carol = script(priced("FINAL: 42", 5))
    rt = team_runtime(tmp_path, {"alice": alice, "bob": bob, "carol": carol})
    result = await rt.run(_chat(arbiter=ArbiterSpec(conflict="majority")), "What is 6*7?")
    assert result.status is RunStatus.SUCCEEDED
    events = rt.store.journal.read(result.run_id)
    (finished,) = [e.payload for e in events if isinstance(e.payload, RunFinished)]
    roles = role_costs(events)
    assert set(roles) == {"alice", "bob", "carol"}
    assert roles["alice"].turns == 2 and roles["alice"].model_calls == 2
    total_tokens = sum(c.spend.tokens for c in roles.values())
    assert total_tokens == finished.input_tokens + finished.output_tokens
    total_money = sum(c.spend.money_micros for c in roles.values())
    assert Decimal(total_money) / 1_000_000 == Decimal(finished.cost) == Decimal("0.11")
    record = rt.store.runs.get(result.run_id)
    assert record.cost_micros == total_money
    rt.close()
