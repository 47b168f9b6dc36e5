"""The checks before each step: one query, then pure decisions.

Before every model step and every tool step the run reads, in one query
(:meth:`~tether.store.controls.ControlStore.preflight`), its status (cancel or pause asked for),
the active kill switches on its agent or its tools, and the operator instructions it has not
taken in; with a tenant budget, also its tenant's spend in other runs. Then:

- cancelled, paused, or a global or agent kill switch: the step does not run; the run stops;
- a kill switch on the tool about to be called: that call gets a ``tool_killed`` error result
  (the model can do without it); the run goes on;
- a budget that this call would exceed: the run stops in ``budget_exceeded``, with what was
  spent where;
- new operator instructions (model steps only): journaled as ``operator_steered`` at this
  step, so the model sees them now and a replay folds them in at the same place.

These checks run inside the durable step, so their outcome is recorded like any other result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tether.agent.context import RunContext
from tether.agent.refuse import refused_call
from tether.agent.stops import StepRefs, stop_refs
from tether.errors import ToolError
from tether.events import OperatorSteered
from tether.governance import budget
from tether.store.controls import KillSwitch, OperatorMessage, Preflight
from tether.store.engine import read_now
from tether.tools import Tool
from tether.types import RunStatus, ToolCall

_STOPS = frozenset({RunStatus.CANCELLED, RunStatus.KILLED})


async def preflight(ctx: RunContext) -> Preflight:
    """The one query; remembers the tenant's spend for the budget checks and the prompt."""
    pre = await read_now(
        ctx.store.engine,
        ctx.store.controls.preflight,
        ctx.run_id,
        agent=ctx.agent.name,
        tools=ctx.registry.names(),
        after_message=ctx.state.operator_seen,
        tenant=ctx.tenant if ctx.budgets.tenant is not None else None,
    )
    if pre.tenant is not None:
        t = pre.tenant
        ctx.tenant_spent = budget.Spend(
            tokens=t.tokens, money_micros=t.money_micros, tool_calls=t.tool_calls
        )
    return pre


def stop_for(pre: Preflight) -> StepRefs | None:
    """A stop asked for from outside: cancel, pause, or a global or agent kill switch."""
    if pre.status in _STOPS:
        return stop_refs(pre.status)
    if pre.status is RunStatus.PAUSED:
        return stop_refs(RunStatus.PAUSED, "paused by an operator; `tether runs resume` goes on")
    switch = next((s for s in pre.switches if s.scope != "tool"), None)
    return None if switch is None else stop_refs(RunStatus.KILLED, killed_reason(switch))


def killed_reason(switch: KillSwitch) -> str:
    lift = {"global": "", "agent": f" --agent {switch.target}", "tool": f" --tool {switch.target}"}
    where = f" --tenant {switch.tenant}" if switch.tenant else ""  # a tenant's own switch
    why = f" ({switch.reason})" if switch.reason else ""
    return (
        f"killed by {switch.label}{why}; lift it with "
        f"`tether kill{lift[switch.scope]}{where} --lift`"
    )


def budget_lines(ctx: RunContext) -> list[budget.BudgetLine]:
    started = ctx.state.started_at
    wall = (ctx.clock.now() - started).total_seconds() if started is not None else 0.0
    spent = replace(ctx.state.spend, wall_s=max(0.0, wall))
    return budget.lines(ctx.budgets, spent, ctx.state.tool_spend(), ctx.tenant_spent)


def allowance(ctx: RunContext) -> tuple[int, int]:
    """Tokens and tool calls the run has left: the tighter of its agent's limits and its
    budgets (run, agent, tenant). Policy decisions see these as ``tokens_left`` and
    ``tool_calls_left``."""
    s, limits = ctx.state, ctx.agent.limits
    tokens = limits.max_tokens - s.usage.total_tokens
    calls = limits.max_tool_calls - s.tool_calls
    if ctx.budgets.empty:
        return tokens, calls
    for line in budget_lines(ctx):
        if line.scope.startswith("tool "):
            continue
        if line.budget.tokens is not None:
            tokens = min(tokens, line.budget.tokens - line.spent.tokens)
        if line.budget.tool_calls is not None:
            calls = min(calls, line.budget.tool_calls - line.spent.tool_calls)
    return tokens, calls


def budget_left(ctx: RunContext) -> str | None:
    """What remains of the run's budgets, for the model's context (None without budgets)."""
    return None if ctx.budgets.empty else budget.left(budget_lines(ctx))


def _budget_stop(ctx: RunContext, estimate: budget.Spend, tool: str | None) -> StepRefs | None:
    if ctx.budgets.empty:
        return None
    found = budget_lines(ctx)
    exceeded = budget.check(found, estimate, tool)
    if exceeded is None:
        return None
    wall = next((line.spent.wall_s for line in found if line.scope == "run"), 0.0)
    spent = budget.summary(ctx.state.spend_by, wall)
    return stop_refs(RunStatus.BUDGET_EXCEEDED, f"{exceeded.describe()}; {spent}")


async def before_model(ctx: RunContext, step: int) -> tuple[StepRefs | None, StepRefs]:
    """``(stop, seen)``: refs that stop the run, or the operator instructions taken in."""
    pre = await preflight(ctx)
    stop = stop_for(pre) or _budget_stop(ctx, budget.MODEL_ESTIMATE, None)
    if stop is not None:
        return stop, ()
    return None, await _take_instructions(ctx, step, pre.messages)


async def _take_instructions(
    ctx: RunContext, step: int, messages: tuple[OperatorMessage, ...]
) -> StepRefs:
    if not messages:
        return ()
    stored = await ctx.record_many(
        [
            (
                ctx.key(step, "operator_steered", i),
                OperatorSteered(message_id=m.id, text=m.text),
            )
            for i, m in enumerate(messages)
        ]
    )
    return tuple(e.id for e in stored)


async def before_tool(ctx: RunContext, step: int, index: int) -> StepRefs | None:
    """Refs that replace the tool step (a stop, or a ``tool_killed`` result), or None: run it."""
    pre = await preflight(ctx)
    stop = stop_for(pre)
    if stop is not None:
        return stop
    call = ctx.state.pending_calls[index]
    try:
        found: Tool | None = ctx.registry.resolve(call.name)
    except ToolError:
        found = None
    name = found.contract.name if found is not None else call.name
    switch = next((s for s in pre.switches if s.scope == "tool" and s.target == name), None)
    if switch is not None:
        return await _refuse_killed(ctx, step, index, call, switch)
    if found is None:
        return None  # unknown or misspelled: the tool step answers the model
    return _budget_stop(ctx, budget.tool_estimate(found.contract.cost), name)


async def before_batch(ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs | None:
    """As :func:`before_tool`, for several calls of one tool made as one batch."""
    pre = await preflight(ctx)
    stop = stop_for(pre)
    if stop is not None:
        return stop
    calls = [ctx.state.pending_calls[i] for i in indices]
    try:
        found: Tool | None = ctx.registry.resolve(calls[0].name)
    except ToolError:
        found = None
    name = found.contract.name if found is not None else calls[0].name
    switch = next((s for s in pre.switches if s.scope == "tool" and s.target == name), None)
    if switch is not None:
        refs: list[str] = []
        for index, call in zip(indices, calls, strict=True):
            refs += await _refuse_killed(ctx, step, index, call, switch)
        return tuple(refs)
    if found is None:
        return None
    each = budget.tool_estimate(found.contract.cost)
    estimate = budget.Spend(tool_calls=len(calls), money_micros=each.money_micros * len(calls))
    return _budget_stop(ctx, estimate, name)


async def _refuse_killed(
    ctx: RunContext, step: int, index: int, call: ToolCall, switch: KillSwitch
) -> StepRefs:
    error = {
        "code": "tool_killed",
        "message": f"tool {switch.target!r} is switched off by an operator"
        + (f" ({switch.reason})" if switch.reason else "")
        + "; do the task without it or give your answer",
        "tool": switch.target,
    }
    refused = refused_call(ctx, step, index, call, error)
    await ctx.record_many(refused)
    return tuple(key.id for key, _ in refused)
