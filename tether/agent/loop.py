"""The agent loop as an explicit state machine: Think → Act → (Think …) → Finish.

Each node is a small typed object whose ``run`` does one thing and returns the next node. Model
and tool calls go through a ``StepRunner`` (direct or durable); every transition is journaled,
so the loop can stop anywhere and be rebuilt from the journal. ``next_node`` says where a run
rebuilt from its journal goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from tether.agent.context import RunContext
from tether.agent.runner import DirectRunner, StepRunner
from tether.agent.schedule import Unit, plan_calls
from tether.agent.state import RunState, call_signature
from tether.agent.stops import StepRefs, stopped
from tether.types import RunStatus, ToolCall


@dataclass(frozen=True, kw_only=True)
class Think:
    """Check the caps, then ask the model for the next step."""

    async def run(self, ctx: RunContext, runner: StepRunner) -> Node:
        state, limits = ctx.state, ctx.agent.limits
        if state.steps >= limits.max_steps:
            return Finish(
                status=RunStatus.MAX_STEPS, reason=f"reached max_steps={limits.max_steps}"
            )
        if state.usage.total_tokens >= limits.max_tokens:
            return Finish(
                status=RunStatus.BUDGET_EXCEEDED,
                reason=f"used {state.usage.total_tokens} tokens of max_tokens={limits.max_tokens}",
            )
        step = state.steps
        refs = await runner.model(ctx, step)
        stop = stopped(refs)
        if stop is not None:
            status, why = stop
            return Finish(status=status, reason=why or f"run {status.value} before step {step + 1}")
        await ctx.ensure_applied(refs)
        return after_response(state, step)


def after_response(state: RunState, step: int) -> Node:
    """Where the loop goes once the model's response at ``step`` is applied."""
    if state.model_error is not None:
        return Finish(status=RunStatus.FAILED, reason=f"model error: {state.model_error}")
    if state.pending_calls:
        return Act(step=step, calls=state.pending_calls)
    text = (state.messages[-1].content or "").strip() if state.messages else ""
    if not text:
        return Finish(
            status=RunStatus.FAILED, reason="the model returned neither an answer nor a tool call"
        )
    return Finish(status=RunStatus.SUCCEEDED, output=text)


@dataclass(frozen=True, kw_only=True)
class Act:
    """Run the tool calls the model asked for, unless a cap or the no-progress detector stops.

    Calls run in waves (``tether.agent.schedule``): reads of one step at the same time, writes
    one by one in order, several calls of a tool with a batch form as one batch call.
    """

    step: int
    calls: tuple[ToolCall, ...]
    done: frozenset[int] = frozenset()  # calls that already ran (a rebuilt run)

    async def run(self, ctx: RunContext, runner: StepRunner) -> Node:
        state, limits = ctx.state, ctx.agent.limits
        todo = [c for i, c in enumerate(self.calls) if i not in self.done]
        if state.tool_calls + len(todo) > limits.max_tool_calls:
            return Finish(
                status=RunStatus.BUDGET_EXCEEDED,
                reason=f"tool calls would exceed max_tool_calls={limits.max_tool_calls}",
            )
        for call in todo:
            seen = state.signatures[call_signature(call.name, call.arguments)]
            if seen >= limits.max_identical_calls:
                return Finish(
                    status=RunStatus.NO_PROGRESS,
                    reason=f"the model repeated {call.name!r} with the same arguments "
                    f"{seen + 1} times",
                )
        for wave in plan_calls(self.calls, ctx.registry, self.done):
            results = await _together([_unit(ctx, runner, self.step, u) for u in wave])
            for refs in results:
                stop = stopped(refs)
                if stop is not None:
                    status, why = stop
                    return Finish(
                        status=status,
                        reason=why or f"run {status.value} during step {self.step + 1}",
                    )
            for refs in results:
                await ctx.ensure_applied(refs)
        return Think()


def _unit(ctx: RunContext, runner: StepRunner, step: int, unit: Unit) -> Awaitable[StepRefs]:
    if unit.batch:
        return runner.batch(ctx, step, unit.indices)
    return runner.tool(ctx, step, unit.indices[0])


async def _together(steps: Sequence[Awaitable[StepRefs]]) -> list[StepRefs]:
    """Await ``steps`` concurrently (started in order, so a durable layer numbers them
    deterministically); if one fails the others are cancelled and its error propagates."""
    if len(steps) == 1:
        return [await steps[0]]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(s)) for s in steps]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [t.result() for t in tasks]


async def _awaited(step: Awaitable[StepRefs]) -> StepRefs:
    return await step


@dataclass(frozen=True, kw_only=True)
class Finish:
    status: RunStatus
    output: str | None = None
    reason: str | None = None

    async def run(self, ctx: RunContext, runner: StepRunner) -> None:
        await ctx.ensure_applied(await runner.finish(ctx, self.status, self.output, self.reason))


Node = Think | Act | Finish


def next_node(state: RunState) -> Node:
    """Where a run rebuilt from its journal goes on: finish, the calls left, or think."""
    if state.status.is_final:
        return Finish(status=state.status, output=state.output, reason=state.reason)
    if state.pending_calls and state.calls_done < len(state.pending_calls):
        return Act(
            step=state.steps - 1, calls=state.pending_calls, done=frozenset(state.done_calls)
        )
    return Think()


async def drive(
    ctx: RunContext, runner: StepRunner | None = None, start: Node | None = None
) -> RunStatus:
    """Run nodes until ``Finish``; return the final status.

    A step may come back as "stopped" (cancel, kill asked for from outside): the run then
    finishes with that status.
    """
    steps: StepRunner = runner or DirectRunner()
    node: Node = start or Think()
    while not isinstance(node, Finish):
        node = await node.run(ctx, steps)
    await node.run(ctx, steps)
    return node.status
