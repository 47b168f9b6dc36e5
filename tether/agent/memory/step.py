"""Working memory inside the model step: condense the prompt until it fits, journal each
condensation (``memory_summarized``), and reuse journaled ones on a rebuilt run.

Called by ``model_step`` before it builds its request. Each condensation is planned by
``window.plan`` on the prompt as it would be sent, summarized by the agent's summarizer,
journaled at ``(step, memory_summarized, i)`` and applied to the state; a model summary is
charged to the budgets (``budget_charged`` at index ``-1 - i``). In durable mode a condensation
already in the journal is applied, not redone, so a resumed run builds the prompts it built
before, whatever the summarizer would say now.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tether.agent.context import RunContext
from tether.agent.memory.config import WorkingMemory
from tether.agent.memory.summarize import (
    ExtractiveSummarizer,
    Summarizer,
    SummaryRequest,
)
from tether.agent.memory.tokens import TokenCounter, message_tokens, prompt_tokens
from tether.agent.memory.window import Action, Budget, groups, plan, utterances
from tether.agent.prompt import build_request
from tether.errors import ModelError
from tether.events import BudgetCharged, EventKey, MemorySummarized, Payload
from tether.store.runs import to_micros
from tether.types import ModelRequest

MAX_ACTIONS = 12  # condensations per step; each one shrinks the prompt


@dataclass(frozen=True, kw_only=True)
class MemoryRuntime:
    """A run's working memory: its settings, summarizer and token counter."""

    config: WorkingMemory
    summarizer: Summarizer
    counter: TokenCounter

    @property
    def budget(self) -> Budget:
        c = self.config
        return Budget(
            max_prompt_tokens=c.max_prompt_tokens,
            keep_recent_turns=c.keep_recent_turns,
            summary_share=c.summary_share,
        )


def next_action(ctx: RunContext, mem: MemoryRuntime) -> Action | None:
    """The condensation the prompt needs now (None: it fits). Counts tokens: run it off the
    event loop when the counter is a tokenizer."""
    request = build_request(ctx)
    total = prompt_tokens(mem.counter, request.messages, request.tools)
    state = ctx.state
    found = groups(state.messages, state.memory)
    sizes = [
        sum(message_tokens(mem.counter, m) for m in state.messages[g.start : g.end]) for g in found
    ]
    return plan(total, found, sizes, state.memory, mem.budget)


def request_size(mem: MemoryRuntime, request: ModelRequest) -> int:
    """The tokens of ``request`` as working memory counts them."""
    return prompt_tokens(mem.counter, request.messages, request.tools)


async def condense(ctx: RunContext, step: int) -> tuple[str, ...]:
    """Condense the prompt of ``step`` until it fits; the ids of the events journaled."""
    mem = ctx.working
    if mem is None:
        return ()
    ids: list[str] = []
    for i in range(MAX_ACTIONS):
        key, charge_key = memory_keys(ctx, step, i)
        if await ctx.journaled(key) is not None:
            found = [key.id]
            if await ctx.journaled(charge_key) is not None:
                found.append(charge_key.id)
            await ctx.ensure_applied(found)
            ids.extend(found)
            continue
        action = await asyncio.to_thread(next_action, ctx, mem)
        if action is None:
            break
        ids.extend(await _condense_once(ctx, mem, key, charge_key, action))
    return tuple(ids)


async def journaled_refs(ctx: RunContext, step: int) -> tuple[str, ...]:
    """The ids of the condensations journaled at ``step`` (a step found in the journal)."""
    ids: list[str] = []
    for i in range(MAX_ACTIONS):
        key, charge_key = memory_keys(ctx, step, i)
        if await ctx.journaled(key) is None:
            break
        ids.append(key.id)
        if await ctx.journaled(charge_key) is not None:
            ids.append(charge_key.id)
    return tuple(ids)


def memory_keys(ctx: RunContext, step: int, i: int) -> tuple[EventKey, EventKey]:
    return ctx.key(step, "memory_summarized", i), ctx.key(step, "budget_charged", -1 - i)


async def _condense_once(
    ctx: RunContext, mem: MemoryRuntime, key: EventKey, charge_key: EventKey, action: Action
) -> list[str]:
    items = tuple(utterances(action, ctx.state.messages, ctx.state.memory))
    request = SummaryRequest(
        items=items, target=action.target, level=action.level, counter=mem.counter
    )
    summarizer: Summarizer = mem.summarizer
    try:
        summary = await summarizer.summarize(request)
    except ModelError:  # the summary model failed: keep the facts without it
        summarizer = ExtractiveSummarizer()
        summary = await summarizer.summarize(request)
    payload = MemorySummarized(
        scope=action.scope,
        level=action.level,
        first=action.first,
        last=action.last,
        text=summary.text,
        tokens=mem.counter.count(summary.text),
        upto=action.upto,
        merged=list(action.merge),
        covered_tokens=action.covered_tokens,
        summarizer=summarizer.name,
        counter=mem.counter.name,
        model=summary.model,
        input_tokens=summary.input_tokens,
        output_tokens=summary.output_tokens,
        cost=str(summary.cost),
    )
    events: list[tuple[EventKey, Payload]] = [(key, payload)]
    if summary.model is not None:
        charge = BudgetCharged(
            source="model",
            name=summary.model,
            tokens=summary.input_tokens + summary.output_tokens,
            money_micros=to_micros(summary.cost),
        )
        events.append((charge_key, charge))
    stored = await ctx.record_many(events)
    return [e.id for e in stored]
