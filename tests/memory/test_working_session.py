"""Acceptance 4 (issue 8): a 200-turn session on a scripted model stays under its prompt budget,
and facts planted in early turns reach the model when a late turn asks for them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tether import Agent, Runtime
from tether.agent.memory.config import WorkingMemory
from tether.agent.memory.tokens import EstimateCounter, prompt_tokens
from tether.agent.state import RunState, message_to_dict, prompt_at
from tether.errors import UsageError
from tether.events import MemorySummarized, ModelRequested, ModelResponded, SessionContext
from tether.settings import Settings
from tether.testing import ScriptedModel, ScriptStep
from tether.types import RunStatus

BUDGET = 900
TURNS = 200
PLANTED = {
    3: ("My account number is ACC-4471-XZ.", "ACC-4471-XZ"),
    7: ("My name is Dana Whitfield.", "Dana Whitfield"),
    12: ("I prefer window seats and I am allergic to peanuts.", "allergic to peanuts"),
    25: ("We decided the renewal deadline is 14 March 2027.", "14 March 2027"),
}
ASKS = {180: "What was my account number?", 190: "What is my name?", 195: "Any allergies?"}


def user_turn(t: int) -> str:
    if t in PLANTED:
        return PLANTED[t][0]
    if t in ASKS:
        return ASKS[t]
    return (
        f"Let us chat about topic {t}: the weather was mild, the coffee was fine and nothing "
        "much happened, so there is really nothing special to report here."
    )


def reply(t: int) -> str:
    return f"Understood, that is noted for topic {t}. Is there anything else I can help with?"


def memory_agent(**config: object) -> Agent:
    return Agent(
        name="chat",
        instructions="You are a concise assistant.",
        model="scripted",
        tools=[],
        working_memory=WorkingMemory(max_prompt_tokens=BUDGET, **config),  # type: ignore[arg-type]
    )


def runtime(tmp_path: Path, model: ScriptedModel) -> Runtime:
    s = Settings(home=tmp_path / "home", workspace=tmp_path)
    return Runtime(settings=s, models={"scripted": model})


@pytest.fixture(scope="module")
def session_of_200(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runtime, ScriptedModel]:
    tmp = tmp_path_factory.mktemp("session")
    model = ScriptedModel(steps=[ScriptStep(text=reply(t)) for t in range(1, TURNS + 1)])
    rt = runtime(tmp, model)

    async def talk() -> None:
        for t in range(1, TURNS + 1):
            result = await rt.run(memory_agent(), user_turn(t), session="support-42")
            assert result.status is RunStatus.SUCCEEDED, result.reason

    asyncio.run(talk())
    model.assert_consumed()
    yield rt, model
    rt.close()


def turn_events(rt: Runtime) -> list[list]:
    return [
        rt.store.journal.read(t.run_id) for t in rt.store.sessions.turns("default", "support-42")
    ]


def test_every_turn_stays_under_the_prompt_budget(session_of_200: tuple) -> None:
    rt, model = session_of_200
    runs = turn_events(rt)
    assert len(runs) == TURNS
    for t, events in enumerate(runs, start=1):
        (request,) = [e.payload for e in events if isinstance(e.payload, ModelRequested)]
        (response,) = [e.payload for e in events if isinstance(e.payload, ModelResponded)]
        assert request.prompt_tokens is not None and request.prompt_tokens <= BUDGET, t
        assert response.input_tokens <= BUDGET, t  # the model's own count of what it got
    counter = EstimateCounter()
    for asked in model.requests:  # what the model actually received
        assert prompt_tokens(counter, asked.messages, asked.tools) <= BUDGET


@pytest.mark.parametrize("late_turn", sorted(ASKS))
def test_early_facts_reach_the_model_when_a_late_turn_asks(
    session_of_200: tuple, late_turn: int
) -> None:
    _, model = session_of_200
    asked = model.requests[late_turn - 1]
    assert asked.messages[-1].content == ASKS[late_turn]
    context = "\n".join(m.content or "" for m in asked.messages)
    for planted_turn, (_, fact) in PLANTED.items():
        assert fact in context, (planted_turn, fact)
    assert "[memory]" in context  # they came through the summary, not verbatim turns
    assert user_turn(40) not in context  # ... while filler from turn 40 is gone


def test_prompt_size_plateaus_instead_of_growing_with_the_session(session_of_200: tuple) -> None:
    rt, _ = session_of_200
    sizes = []
    for events in turn_events(rt):
        (request,) = [e.payload for e in events if isinstance(e.payload, ModelRequested)]
        sizes.append(request.prompt_tokens)
    # without working memory turn 200 would carry 20x turn 10's history; here it is bounded
    assert sizes[199] < 2 * max(sizes[10:20]) < BUDGET * 2
    assert max(sizes[100:]) <= BUDGET
    # and each turn journals a bounded amount: no turn's events grow with the session
    journal_sizes = [
        sum(len(e.payload.model_dump_json()) for e in events) for events in turn_events(rt)
    ]
    assert max(journal_sizes[150:]) < 1.5 * max(journal_sizes[30:60])


def test_summaries_are_journaled_with_what_they_cover(session_of_200: tuple) -> None:
    rt, _ = session_of_200
    summaries = [
        e.payload
        for events in turn_events(rt)
        for e in events
        if isinstance(e.payload, MemorySummarized)
    ]
    assert summaries, "a 200-turn session over a 900-token budget must summarize"
    assert all(s.scope == "session" and s.first <= s.last for s in summaries)
    merged = [s for s in summaries if s.merged]
    assert (
        merged and max(s.level for s in merged) > 2
    )  # decaying resolution: summaries of summaries
    assert all(s.summarizer == "extractive" and s.model is None for s in summaries)
    assert all(s.counter == "estimate:chars/4" for s in summaries)


def test_each_turn_is_rebuilt_from_its_own_journal_with_the_same_prompt(
    session_of_200: tuple,
) -> None:
    """The journal alone (session_context + memory_summarized) rebuilds exactly the prompt the
    model received, for every turn: replay needs no other run and recomputes no summary."""
    rt, model = session_of_200
    for t, events in enumerate(turn_events(rt), start=1):
        journaled = prompt_at(events, 0)
        received = [message_to_dict(m) for m in model.requests[t - 1].messages]
        assert journaled == received, t
        contexts = [e.payload for e in events if isinstance(e.payload, SessionContext)]
        assert len(contexts) == 1 and contexts[0].turn == t
        state = RunState.replay(events[0].key.run_id, events)
        assert state.output == reply(t)


def test_sessions_are_per_tenant_and_turns_go_one_after_another(tmp_path: Path) -> None:
    model = ScriptedModel(steps=[ScriptStep(text="ok A"), ScriptStep(text="ok B")])
    rt = runtime(tmp_path, model)
    try:
        rt.run_sync(memory_agent(), "My PIN hint is Blue Falcon 9.", session="s", tenant="a")
        rt.run_sync(memory_agent(), "What is my PIN hint?", session="s", tenant="b")
        second = model.requests[1]
        assert "Blue Falcon" not in "\n".join(m.content or "" for m in second.messages)
        assert [t.turn for t in rt.store.sessions.turns("b", "s")] == [1]
        with pytest.raises(UsageError, match="session id"):
            rt.run_sync(memory_agent(), "hi", session="bad id with spaces")
    finally:
        rt.close()


def test_an_unset_working_memory_keeps_the_agent_version() -> None:
    plain = Agent(name="chat", instructions="You are a concise assistant.", model="scripted")
    configured = memory_agent()
    same = Agent(
        name="chat",
        instructions="You are a concise assistant.",
        model="scripted",
        working_memory=None,
    )
    assert plain.version == same.version
    assert configured.version != plain.version
