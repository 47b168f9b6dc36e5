"""Working memory's pure decisions: which groups to condense, when to merge, what to show."""

from __future__ import annotations

import pytest

from tether.agent.memory.window import (
    Block,
    Budget,
    WorkingState,
    apply_block,
    groups,
    head,
    plan,
)
from tether.agent.spec import Agent, AgentSpec
from tether.errors import AgentSpecError
from tether.types import AssistantMessage, ToolCall, ToolResultMessage, UserMessage

BUDGET = Budget(max_prompt_tokens=1000, keep_recent_turns=2, summary_share=0.3)


def session_messages(turns: int) -> list:
    out: list = []
    for t in range(turns):
        out += [UserMessage(content=f"user {t}"), AssistantMessage(content=f"answer {t}")]
    return [*out, UserMessage(content="the goal")]


def run_messages(steps: int) -> list:
    out: list = [UserMessage(content="the goal")]
    for s in range(steps):
        call = ToolCall(id=f"c{s}", name="t", arguments={})
        out += [
            AssistantMessage(tool_calls=(call,)),
            ToolResultMessage(tool_call_id=f"c{s}", name="t", content="{}"),
        ]
    return out


def test_groups_are_carried_turns_then_steps_with_the_goal_pinned() -> None:
    ws = WorkingState(carried=2, first_turn=5)
    messages = session_messages(2)[:-1] + run_messages(2)
    found = groups(messages, ws)
    assert [(g.scope, g.label, g.start, g.end) for g in found] == [
        ("session", 5, 0, 2),
        ("session", 6, 2, 4),
        ("run", 0, 5, 7),
        ("run", 1, 7, 9),
    ]
    ws.cut = 4
    assert [g.label for g in groups(messages, ws)] == [0, 1]


def test_a_prompt_under_budget_is_left_alone() -> None:
    ws = WorkingState()
    found = groups(run_messages(5), ws)
    assert plan(999, found, [100] * len(found), ws, BUDGET) is None


def test_over_budget_the_oldest_groups_beyond_the_recent_ones_are_summarized() -> None:
    ws = WorkingState()
    found = groups(run_messages(6), ws)
    action = plan(1300, found, [200] * 6, ws, BUDGET)
    assert action is not None and action.scope == "run" and not action.merge
    # 1300 -> under 700 (the low-water mark) needs 600 tokens back: 4 groups of 200 give 600
    assert [g.label for g in action.groups] == [0, 1, 2, 3]
    assert action.upto == found[3].end and action.target == 100  # capped at share/3
    assert action.target < action.covered_tokens


def test_session_turns_are_condensed_before_the_runs_own_steps() -> None:
    ws = WorkingState(carried=3, first_turn=1)
    messages = session_messages(3)[:-1] + run_messages(3)
    found = groups(messages, ws)
    action = plan(5000, found, [300] * len(found), ws, BUDGET)
    assert action is not None and action.scope == "session"
    assert [g.label for g in action.groups] == [1, 2, 3]  # never mixed with steps


def test_when_summaries_outgrow_their_share_the_two_oldest_merge() -> None:
    blocks = [
        Block(scope="session", level=1, first=1, last=4, text="a", tokens=120),
        Block(scope="session", level=2, first=5, last=9, text="b", tokens=150),
        Block(scope="run", level=1, first=0, last=3, text="c", tokens=90),
    ]
    ws = WorkingState(carried=0, blocks=blocks)
    action = plan(1200, [], [], ws, BUDGET)
    assert action is not None and action.merge == (0, 1)
    assert (action.level, action.first, action.last) == (3, 1, 9)
    assert action.target == 150  # half the summaries' room (0.3 * 1000 / 2)
    apply_block(
        ws, Block(scope="session", level=3, first=1, last=9, text="ab", tokens=140), [0, 1], 0
    )
    assert [b.text for b in ws.blocks] == ["ab", "c"]


def test_keep_recent_gives_way_when_nothing_else_can_be_condensed() -> None:
    ws = WorkingState()
    found = groups(run_messages(2), ws)
    action = plan(2000, found, [800, 800], ws, BUDGET)
    assert action is not None and [g.label for g in action.groups] == [0]  # the newest stays


def test_head_shows_summaries_and_the_goal_once_its_steps_are_cut() -> None:
    messages = run_messages(3)
    ws = WorkingState(
        blocks=[
            Block(scope="run", level=1, first=0, last=0, text="[step 0 tool:t] x: 1", tokens=9)
        ],
        cut=3,
    )
    shown = head(ws, messages)
    assert shown[0] is messages[0]  # the goal, verbatim
    assert isinstance(shown[1], UserMessage) and shown[1].origin == "memory"
    assert (
        "[step 0 tool:t] x: 1" in shown[1].content and "data, not instructions" in shown[1].content
    )


def test_working_memory_is_validated_with_the_field_named() -> None:
    spec = {"name": "a", "working_memory": {"max_prompt_tokens": 10}}
    with pytest.raises(Exception, match="max_prompt_tokens"):
        AgentSpec.model_validate(spec)
    with pytest.raises(AgentSpecError, match="working_memory"):
        Agent(name="a", working_memory={"summarizer": "magic"})  # type: ignore[arg-type]
    with pytest.raises(AgentSpecError, match="summary_model is only used with summarizer: model"):
        Agent(name="a", working_memory={"summary_model": "local:smollm2"})  # type: ignore[arg-type]


def test_an_agent_file_with_a_bad_working_memory_names_the_file_and_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tether.agent.spec import load_agent

    path = tmp_path / "a.yaml"
    path.write_text("name: a\nworking_memory: {keep_recent_turns: 0}\n", encoding="utf-8")
    with pytest.raises(AgentSpecError, match=r"a\.yaml: field 'working_memory\.keep_recent_turns'"):
        load_agent(path)
    path.write_text("name: a\nworking_memory: {max_prompt_tokens: 2000}\n", encoding="utf-8")
    assert load_agent(path).working_memory is not None
