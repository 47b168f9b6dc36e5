"""Summary quality: the facts of early turns survive condensation, filler does not."""

from __future__ import annotations

import asyncio
import json

import pytest

from tether.agent.memory.extractive import (
    Utterance,
    extract,
    parse_summary,
    score_sentence,
    tool_sentences,
)
from tether.agent.memory.summarize import ExtractiveSummarizer, ModelSummarizer, SummaryRequest
from tether.agent.memory.tokens import EstimateCounter, counter_for, prompt_tokens
from tether.testing import ScriptedModel, ScriptStep
from tether.types import UserMessage

FILLER = [
    "Let us talk about the weather, it is mild and pleasant out there.",
    "Thanks!",
    "The coffee this morning was fine, nothing special to report really.",
    "Okay.",
    "I was thinking about what to cook later but have not made up my mind.",
]
FACTS = {
    "account": "My account number is ACC-4471-XZ.",
    "name": "My name is Dana Whitfield.",
    "preference": "I prefer window seats and I am allergic to peanuts.",
    "date": "The contract renewal is due on 14 March 2027.",
    "decision": "We decided to cancel the premium plan.",
}


def conversation(turns: int, facts_at: dict[int, str]) -> list[Utterance]:
    out = []
    for t in range(1, turns + 1):
        text = facts_at.get(t, FILLER[t % len(FILLER)])
        out.append(Utterance(label=f"turn {t}", role="user", text=text))
        out.append(Utterance(label=f"turn {t}", role="assistant", text="Noted. Anything else?"))
    return out


def test_fact_sentences_outscore_filler() -> None:
    fact_scores = [score_sentence(s, "user") for s in FACTS.values()]
    filler_scores = [score_sentence(s, "user") for s in FILLER]
    assert min(fact_scores) > max(filler_scores)
    assert score_sentence("Thanks!", "user") == 0
    assert score_sentence("My name is Dana.", "user") > score_sentence(
        "My name is Dana.", "assistant"
    )


@pytest.mark.parametrize("fact", sorted(FACTS))
def test_a_planted_fact_survives_a_summary_a_tenth_of_the_size(fact: str) -> None:
    items = conversation(40, {3: FACTS[fact]})
    counter = EstimateCounter()
    size = sum(counter.count(i.text) for i in items)
    summary = extract(items, size // 10, counter)
    assert FACTS[fact] in summary
    assert "[turn 3 user]" in summary
    assert counter.count(summary) <= size // 10 + 8


def test_all_planted_facts_survive_repeated_condensation() -> None:
    """Summaries of summaries (decaying resolution): five facts among 180 turns of filler
    still stand after the summary is condensed again and again."""
    planted = {3: FACTS["account"], 17: FACTS["name"], 42: FACTS["preference"]}
    planted |= {88: FACTS["date"], 131: FACTS["decision"]}
    counter = EstimateCounter()
    text = ""
    items = conversation(180, planted)
    for start in range(0, len(items), 20):  # fold 10 turns at a time into the running summary
        text = extract([*parse_summary(text), *items[start : start + 20]], 120, counter)
    for fact in planted.values():
        assert fact in text, fact
    assert counter.count(text) <= 128


def test_summaries_are_deterministic_and_in_original_order() -> None:
    items = conversation(30, {5: FACTS["name"], 20: FACTS["account"]})
    first, second = extract(items, 60), extract(items, 60)
    assert first == second
    assert first.index("Dana") < first.index("ACC-4471-XZ")


def test_a_summary_parses_back_into_labelled_utterances() -> None:
    text = extract(conversation(10, {4: FACTS["decision"]}), 40)
    parsed = parse_summary(text)
    assert Utterance(label="turn 4", role="user", text=FACTS["decision"]) in parsed


def test_tool_results_are_flattened_into_fact_sentences() -> None:
    content = json.dumps({"customer": {"id": "C-88120", "tier": "gold"}, "rows": [1, 2]})
    assert tool_sentences(content) == [
        "customer.id: C-88120",
        "customer.tier: gold",
        "rows[0]: 1",
        "rows[1]: 2",
    ]
    summary = extract([Utterance(label="step 2", role="tool:crm", text=content)], 30)
    assert "customer.id: C-88120" in summary


def test_the_extractive_summarizer_makes_no_model_call() -> None:
    request = SummaryRequest(
        items=tuple(conversation(5, {2: FACTS["name"]})),
        target=30,
        level=1,
        counter=EstimateCounter(),
    )
    summary = asyncio.run(ExtractiveSummarizer().summarize(request))
    assert summary.model is None and summary.input_tokens == 0
    assert FACTS["name"] in summary.text


def test_the_model_summarizer_asks_the_model_and_reports_its_usage() -> None:
    model = ScriptedModel(steps=[ScriptStep(text="[turn 2 user] Name: Dana Whitfield.")])
    request = SummaryRequest(
        items=tuple(conversation(5, {2: FACTS["name"]})),
        target=40,
        level=1,
        counter=EstimateCounter(),
    )
    summary = asyncio.run(ModelSummarizer(model=model).summarize(request))
    assert summary.text == "[turn 2 user] Name: Dana Whitfield."
    assert summary.model == "scripted" and summary.input_tokens > 0
    (asked,) = model.requests
    assert "Dana Whitfield" in asked.messages[1].content
    assert isinstance(asked.messages[1], UserMessage) and asked.messages[1].origin == "memory"
    assert asked.tool_choice == "none"


def test_a_model_summary_that_runs_long_is_cut_down_to_its_facts() -> None:
    rambling = " ".join(["It was a lovely chat about nothing much."] * 40)
    model = ScriptedModel(steps=[ScriptStep(text=f"{rambling} Account ACC-4471-XZ.")])
    request = SummaryRequest(
        items=tuple(conversation(5, {2: FACTS["account"]})),
        target=30,
        level=1,
        counter=EstimateCounter(),
    )
    summary = asyncio.run(ModelSummarizer(model=model).summarize(request))
    assert "ACC-4471-XZ" in summary.text
    assert EstimateCounter().count(summary.text) <= 36


def test_tokens_come_from_the_model_tokenizer_when_it_has_one() -> None:
    class Tokenizing:
        id = "tok"

        def count_tokens(self, text: str) -> int:
            return len(text.split())

    class Wrapper:
        def __init__(self, inner: object) -> None:
            self.inner = inner

    counter = counter_for(Wrapper(Tokenizing()))
    assert counter.count("one two three") == 3
    assert counter.name == "tokenizer:tok"
    estimate = counter_for(ScriptedModel(steps=[]))
    assert estimate.count("x" * 9) == 3  # ceil(9 / 4)
    assert prompt_tokens(estimate, [UserMessage(content="x" * 8)]) == 2 + 4
