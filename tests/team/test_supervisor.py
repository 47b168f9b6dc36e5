"""The supervisor protocol end to end: a manager delegates through handoff tools (two workers
at once), the arbiter refuses a repeated handoff, and the manager synthesizes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.team.helpers import role, script, team_runtime
from tether import Runtime
from tether.events import ArbiterDecision, Handoff, TeamTurn, ToolCallFinished
from tether.governance.budget import Budget
from tether.team import Team
from tether.testing import ScriptStep, answer, call, calls
from tether.types import ModelRequest, RunStatus, ToolResultMessage


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


async def test_parallel_handoffs_share_what_is_left_of_the_team_budget(tmp_path: Path) -> None:
    lead = script(
        calls(("handoff_to_math", {"task": "a"}), ("handoff_to_facts", {"task": "b"})),
        answer("done"),
    )
    math, facts = script(answer("1")), script(answer("2"))
    rt = team_runtime(tmp_path, {"lead": lead, "math": math, "facts": facts})
    team = Team(
        name="desk",
        protocol="supervisor",
        manager="lead",
        roles=[role("lead"), role("math"), role("facts")],
        budget=Budget(tokens=10_000),
    )
    result = await rt.run(team, "Go.")
    assert result.status is RunStatus.SUCCEEDED
    assert _left(lead.requests[0]) == 10_000  # nothing spent before the lead's first call
    after_lead = rt.store.journal.read(result.run_id, kinds=["budget_charged"])[0]
    rest = 10_000 - after_lead.payload.tokens  # type: ignore[union-attr]
    assert _left(math.requests[0]) == _left(facts.requests[0]) == rest // 2
    rt.close()


def _left(request: ModelRequest) -> int:
    system = request.messages[0].content or ""
    found = re.search(r"Budget left: (\d+) tokens", system)
    assert found is not None, system
    return int(found.group(1))


async def test_a_pause_inside_a_turn_ends_the_team_for_review(tmp_path: Path) -> None:
    holder: dict[str, Runtime] = {}

    def pause_now(request: ModelRequest) -> bool:  # an operator pauses while math works
        rt = holder["rt"]
        (run,) = rt.store.runs.list()
        rt.store.controls.request_status(run.id, RunStatus.PAUSED, when=(RunStatus.RUNNING,))
        return True

    lead = script(call("handoff_to_math", task="compute"), answer("gave up"))
    math = script(
        ScriptStep(tool_calls=call("calculator", expression="1+1").tool_calls, expect=pause_now)
    )
    rt = team_runtime(tmp_path, {"lead": lead, "math": math, "facts": script()})
    holder["rt"] = rt
    result = await rt.run(_team(), "Compute.")
    assert result.status is RunStatus.NEEDS_REVIEW
    assert "cannot pause" in (result.reason or "")
    assert rt.store.runs.get(result.run_id).status is RunStatus.NEEDS_REVIEW
    rt.close()
