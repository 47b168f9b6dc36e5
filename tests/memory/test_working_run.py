"""Working memory inside one long run: old tool results are condensed, the goal stays, the
prompt stays under budget, and a run resumed from a partial journal builds the same prompts
without summarizing again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from tether import Agent, Runtime, tool
from tether.agent.memory.config import WorkingMemory
from tether.agent.memory.step import MemoryRuntime
from tether.agent.memory.summarize import ExtractiveSummarizer, Summary, SummaryRequest
from tether.agent.memory.tokens import EstimateCounter
from tether.agent.spec import Limits
from tether.agent.state import message_to_dict
from tether.events import BudgetCharged, MemorySummarized, ModelRequested
from tether.settings import Settings
from tether.store.schema import events as events_table
from tether.testing import ScriptedModel, ScriptStep
from tether.testing.scripted import answer, call
from tether.types import RunStatus

BUDGET = 1200
STEPS = 90
GOAL = "Audit the ledger pages one by one and report the owner of customer C-88120."


@tool
def ledger_page(page: int) -> dict[str, object]:
    """Read one page of the ledger."""
    if page == 2:
        return {"page": 2, "customer": {"id": "C-88120", "owner": "Priya Raman"}}
    rows = [{"item": f"widget batch {page}-{i}", "status": "counted"} for i in range(4)]
    return {"page": page, "rows": rows}


def script() -> list[ScriptStep]:
    return [call("ledger_page", page=p) for p in range(1, STEPS + 1)] + [
        answer("C-88120 belongs to Priya Raman.")
    ]


def long_agent(**config: object) -> Agent:
    return Agent(
        name="auditor",
        instructions="You audit ledgers.",
        model="scripted",
        tools=[ledger_page],
        limits=Limits(max_steps=STEPS + 5, max_tool_calls=STEPS + 5, max_tokens=10_000_000),
        working_memory=WorkingMemory(max_prompt_tokens=BUDGET, **config),  # type: ignore[arg-type]
    )


def runtime(tmp_path: Path, **models: ScriptedModel) -> Runtime:
    s = Settings(home=tmp_path / "home", workspace=tmp_path)
    return Runtime(settings=s, models=models)


def requests_of(rt: Runtime, run_id: str) -> list[ModelRequested]:
    return [
        e.payload for e in rt.store.journal.read(run_id) if isinstance(e.payload, ModelRequested)
    ]


def test_a_long_run_condenses_old_tool_results_and_keeps_the_goal(tmp_path: Path) -> None:
    model = ScriptedModel(steps=script())
    rt = runtime(tmp_path, scripted=model)
    try:
        result = rt.run_sync(long_agent(), GOAL)
        assert result.status is RunStatus.SUCCEEDED, result.reason
        requests = requests_of(rt, result.run_id)
        assert len(requests) == STEPS + 1
        assert all(r.prompt_tokens is not None and r.prompt_tokens <= BUDGET for r in requests)
        assert max(r.prompt_tokens or 0 for r in requests[-30:]) <= BUDGET
        for asked in model.requests:
            assert any(m.content == GOAL for m in asked.messages)  # the goal is pinned
        final = "\n".join(m.content or "" for m in model.requests[-1].messages)
        assert "C-88120" in final and "Priya Raman" in final  # from page 2, via the summary
        assert "widget batch 5-0" not in final  # old filler rows are gone
        summaries = [
            e.payload
            for e in rt.store.journal.read(result.run_id)
            if isinstance(e.payload, MemorySummarized)
        ]
        assert summaries and all(s.scope == "run" for s in summaries)
        assert any(s.merged for s in summaries)
    finally:
        rt.close()


class CountingSummarizer:
    name = "extractive"

    def __init__(self) -> None:
        self.calls = 0

    async def summarize(self, request: SummaryRequest) -> Summary:
        self.calls += 1
        return await ExtractiveSummarizer().summarize(request)


def test_a_resumed_run_reuses_journaled_summaries_and_rebuilds_the_same_prompts(
    tmp_path: Path,
) -> None:
    """A crash after step K: the journal holds steps < K. The rebuilt run (durable mode:
    journaled steps are not redone) applies the journaled summaries, summarizes only what
    comes after K, and sends the model exactly the prompts of the first life."""
    first = ScriptedModel(steps=script())
    rt = runtime(tmp_path, scripted=first)
    result = rt.run_sync(long_agent(), GOAL)
    original = rt.store.journal.read(result.run_id)
    rt.close()
    cut = 60
    summaries_after = [
        e for e in original if isinstance(e.payload, MemorySummarized) and e.key.step >= cut
    ]
    assert [e for e in original if isinstance(e.payload, MemorySummarized) and e.key.step < cut]
    assert summaries_after

    second = ScriptedModel(steps=script()[cut:])
    rt2 = runtime(tmp_path, scripted=second)
    try:
        with rt2.store.engine.begin() as conn:
            conn.execute(
                sa.delete(events_table).where(
                    events_table.c.run_id == result.run_id, events_table.c.step >= cut
                )
            )
        ctx = rt2.rebuild(result.run_id, 0)
        counting = CountingSummarizer()
        assert ctx.working is not None
        ctx.working = MemoryRuntime(
            config=ctx.working.config, summarizer=counting, counter=EstimateCounter()
        )
        ctx.check_journal = True
        asyncio.run(rt2.drive(ctx))
        assert ctx.state.status is RunStatus.SUCCEEDED
        second.assert_consumed()
        assert counting.calls == len(summaries_after)  # none of the journaled ones redone
        for before, again in zip(first.requests[cut:], second.requests, strict=True):
            assert [message_to_dict(m) for m in again.messages] == [
                message_to_dict(m) for m in before.messages
            ]
        rebuilt = rt2.store.journal.read(result.run_id)
        texts = [e.payload.text for e in rebuilt if isinstance(e.payload, MemorySummarized)]
        assert texts == [
            e.payload.text for e in original if isinstance(e.payload, MemorySummarized)
        ]
    finally:
        rt2.close()


def test_a_model_summary_is_journaled_and_charged_like_a_model_call(tmp_path: Path) -> None:
    summary_text = "[step 1 tool:ledger_page] customer.id: C-88120 customer.owner: Priya Raman"
    summarizer = ScriptedModel(
        model_id="summarizer", steps=[ScriptStep(text=summary_text)], repeat_last=True
    )
    model = ScriptedModel(steps=[*script()[:30], answer("done")])
    rt = runtime(tmp_path, scripted=model, summarizer=summarizer)
    try:
        agent = long_agent(summarizer="model", summary_model="summarizer")
        result = rt.run_sync(agent, GOAL)
        assert result.status is RunStatus.SUCCEEDED, result.reason
        events = rt.store.journal.read(result.run_id)
        summaries = [e for e in events if isinstance(e.payload, MemorySummarized)]
        assert summaries and len(summarizer.requests) == len(summaries)
        charges = {
            e.key.step: e.payload
            for e in events
            if isinstance(e.payload, BudgetCharged) and e.key.index < 0
        }
        for s in summaries:
            assert s.payload.model == "summarizer" and s.payload.summarizer == "model"
            assert s.payload.input_tokens > 0
            charge = charges[s.key.step]
            assert charge.name == "summarizer" and charge.tokens > s.payload.input_tokens
        spent = sum(c.tokens for c in charges.values())
        assert rt.rebuild(result.run_id, 1, upto_segment=False).state.spend.tokens >= spent
        final = "\n".join(m.content or "" for m in model.requests[-1].messages)
        assert "Priya Raman" in final
    finally:
        rt.close()
