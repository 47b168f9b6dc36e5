"""What the model is shown: preselection, guided focus on parts of the goal, journaled prompts."""

from __future__ import annotations

from pathlib import Path

from tests.agent_helpers import make_runtime, scripted
from tether import Agent, Limits
from tether.agent.prompt import focus
from tether.agent.state import prompt_at
from tether.testing import answer, call
from tether.tools import BUILTIN_TOOLS

CONTRACTS = [t.contract for t in BUILTIN_TOOLS]
GOAL = "What is today's date, and what is 12 * 12?"


def test_focus_walks_the_parts_of_the_goal_in_order() -> None:
    first = focus(GOAL, CONTRACTS, 2, [])
    assert (first.part, first.part_tool, first.parts_total) == (
        "What is today's date",
        "current_datetime",
        2,
    )
    second = focus(GOAL, CONTRACTS, 2, ["current_datetime"])
    assert second.part_tool == "calculator" and second.parts_done == 1
    done = focus(GOAL, CONTRACTS, 2, ["current_datetime", "calculator"])
    assert done.part is None and done.parts_done == 2


def test_a_tool_used_out_of_order_does_not_complete_a_part() -> None:
    assert focus(GOAL, CONTRACTS, 2, ["calculator"]).part_tool == "current_datetime"


def test_preselection_limits_the_tools_shown() -> None:
    f = focus("What is 2**10?", CONTRACTS, 2, [])
    assert len(f.tools) == 2 and f.tools[0].name == "calculator"


def guided(**limits: int) -> Agent:
    return Agent(
        name="g",
        model="scripted",
        tools=["calculator", "current_datetime", "read_file", "list_files"],
        limits=Limits(**limits),
        preselect_k=2,
        guided=True,
    )


async def test_guided_agent_requires_the_parts_tool_then_asks_for_the_answer(
    tmp_path: Path,
) -> None:
    model = scripted(
        call("current_datetime", timezone="UTC"),
        call("calculator", expression="12 * 12"),
        answer("Today, and 144."),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(guided(), GOAL)
    assert result.status.value == "succeeded"
    r1, r2, r3 = model.requests
    assert (r1.tool_choice, [t.name for t in r1.tools]) == ("required", ["current_datetime"])
    assert (r2.tool_choice, [t.name for t in r2.tools]) == ("required", ["calculator"])
    assert r3.tool_choice == "none"
    last = r3.messages[-1]
    assert last.kind == "user" and "144" in last.content  # type: ignore[union-attr]
    rt.close()


async def test_journal_stores_prompt_deltas_that_rebuild_the_full_prompt(tmp_path: Path) -> None:
    model = scripted(*(call("calculator", expression=f"{i}+1") for i in range(3)), answer("ok"))
    rt = make_runtime(tmp_path, model)
    agent = Agent(name="d", model="scripted", tools=["calculator"], preselect_k=4)
    result = await rt.run(agent, "count up")
    events = rt.store.journal.read(result.run_id)
    deltas = [e.payload for e in events if e.kind == "model_request"]
    assert [d.prefix for d in deltas] == [0, 1, 3, 5]  # type: ignore[union-attr]
    for step, request in enumerate(model.requests):
        rebuilt = prompt_at(events, step)
        assert len(rebuilt) == len(request.messages)
        assert [m["role"] for m in rebuilt][0] == "system"
        assert rebuilt[-1]["content"] == getattr(request.messages[-1], "content", None)
    rt.close()


async def test_transient_guidance_is_journaled_but_not_carried(tmp_path: Path) -> None:
    model = scripted(
        call("current_datetime", timezone="UTC"),
        call("calculator", expression="12 * 12"),
        answer("144"),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(guided(), GOAL)
    events = rt.store.journal.read(result.run_id)
    for step, request in enumerate(model.requests):
        rebuilt = prompt_at(events, step)
        assert [m["content"] for m in rebuilt[1:]] == [
            getattr(m, "content", None) for m in request.messages[1:]
        ]
    rt.close()
