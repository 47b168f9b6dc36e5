"""The supervisor protocol end to end: a manager delegates through handoff tools (two workers
at once), the arbiter refuses a repeated handoff, and the manager synthesizes."""

from __future__ import annotations

from pathlib import Path

from tests.team.helpers import role, script, team_runtime
from tether.events import ArbiterDecision, Handoff, TeamTurn, ToolCallFinished
from tether.team import Team
from tether.testing import answer, call, calls
from tether.types import RunStatus, ToolResultMessage


def _team() -> Team:
    return Team(
        name="desk",
        protocol="supervisor",
        manager="lead",
        roles=[
            role("lead", description="plans and writes the final answer"),
            role("math", tools=["calculator"], description="does arithmetic"),
            role("facts", description="knows facts"),
        ],
    )


async def test_manager_delegates_in_parallel_then_synthesizes(tmp_path: Path) -> None:
    lead = script(
        calls(
            ("handoff_to_math", {"task": "compute 6*7"}),
            ("handoff_to_facts", {"task": "name the capital of France"}),
        ),
        call("handoff_to_math", task="compute 6*7"),  # the same task again: refused
        answer("6*7 is 42 and the capital of France is Paris."),
    )
    math = script(call("calculator", expression="6*7"), answer("42"))
    facts = script(answer("Paris"))
    rt = team_runtime(tmp_path, {"lead": lead, "math": math, "facts": facts})
    result = await rt.run(_team(), "What is 6*7, and what is the capital of France?")
    for m in (lead, math, facts):
        m.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == "6*7 is 42 and the capital of France is Paris."
    # the manager saw the handoff tools and then both answers as tool results
    assert {"handoff_to_math", "handoff_to_facts"} <= {t.name for t in lead.requests[0].tools}
    second = " ".join(
        m.content or "" for m in lead.requests[1].messages if isinstance(m, ToolResultMessage)
    )
    assert '"answer": "42"' in second and '"answer": "Paris"' in second
    events = rt.store.journal.read(result.run_id)
    handoffs = [  # by position (the two parallel ones may be journaled in either order)
        e.payload
        for e in sorted(events, key=lambda e: (e.key.step, e.key.index))
        if isinstance(e.payload, Handoff)
    ]
    assert [(h.to_role, h.turn) for h in handoffs] == [("math", 1), ("facts", 2), ("math", None)]
    refused = [e.payload for e in events if isinstance(e.payload, ArbiterDecision)]
    assert [(d.decision, d.rule, d.role) for d in refused] == [("refuse", "repetition", "math")]
    errors = [
        e.payload for e in events if isinstance(e.payload, ToolCallFinished) and not e.payload.ok
    ]
    assert [e.error["code"] for e in errors] == ["handoff_refused"]  # type: ignore[index]
    turns = sorted(
        (e.payload for e in events if isinstance(e.payload, TeamTurn)), key=lambda t: t.turn
    )
    assert [(t.role, t.delegated_by) for t in turns] == [
        ("lead", None),
        ("math", "lead"),
        ("facts", "lead"),
    ]
    # the worker's tool call is an ordinary journaled, policy-checked call within its turn
    math_turn = turns[1]
    tool_steps = [e.key.step for e in events if e.kind == "tool_call_finished"]
    assert any(
        math_turn.step_base <= s < math_turn.step_base + math_turn.step_cap for s in tool_steps
    )
    policy = [e for e in events if e.kind == "policy_decision"]
    assert any(
        math_turn.step_base <= e.key.step < math_turn.step_base + math_turn.step_cap for e in policy
    )
    rt.close()


async def test_a_worker_that_stops_is_an_error_the_manager_sees(tmp_path: Path) -> None:
    lead = script(call("handoff_to_facts", task="anything"), answer("I could not find out."))
    facts = script(answer(""))  # neither answer nor tool call: the worker's turn fails
    math = script()
    rt = team_runtime(tmp_path, {"lead": lead, "math": math, "facts": facts})
    result = await rt.run(_team(), "Find out.")
    assert result.status is RunStatus.SUCCEEDED
    tool_msgs = [m for m in lead.requests[1].messages if isinstance(m, ToolResultMessage)]
    assert "handoff_failed" in (tool_msgs[0].content or "")
    rt.close()
