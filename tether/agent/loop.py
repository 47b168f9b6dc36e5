"""The agent loop as an explicit state machine: Think → Act → (Think …) → Finish.

Each node is a small typed object whose ``run`` does one thing and returns the next node. Model
and tool calls go through the recordable steps in ``steps.py``; every transition is journaled,
so the loop can stop anywhere and be rebuilt from the journal.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.agent.context import RunContext
from tether.agent.state import call_signature
from tether.agent.steps import model_step, tool_step
from tether.errors import ModelError
from tether.events import RunFinished
from tether.types import RunStatus, ToolCall


@dataclass(frozen=True, kw_only=True)
class Think:
    """Check the caps, then ask the model for the next step."""

    async def run(self, ctx: RunContext) -> Node:
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
        try:
            await model_step(ctx, step)
        except ModelError as exc:
            return Finish(status=RunStatus.FAILED, reason=f"model error: {exc}")
        if state.pending_calls:
            return Act(step=step, calls=state.pending_calls)
        text = (state.messages[-1].content or "").strip() if state.messages else ""
        if not text:
            return Finish(
                status=RunStatus.FAILED,
                reason="the model returned neither an answer nor a tool call",
            )
        return Finish(status=RunStatus.SUCCEEDED, output=text)


@dataclass(frozen=True, kw_only=True)
class Act:
    """Run the tool calls the model asked for, unless a cap or the no-progress detector stops."""

    step: int
    calls: tuple[ToolCall, ...]

    async def run(self, ctx: RunContext) -> Node:
        state, limits = ctx.state, ctx.agent.limits
        if state.tool_calls + len(self.calls) > limits.max_tool_calls:
            return Finish(
                status=RunStatus.BUDGET_EXCEEDED,
                reason=f"tool calls would exceed max_tool_calls={limits.max_tool_calls}",
            )
        for call in self.calls:
            seen = state.signatures[call_signature(call.name, call.arguments)]
            if seen >= limits.max_identical_calls:
                return Finish(
                    status=RunStatus.NO_PROGRESS,
                    reason=f"the model repeated {call.name!r} with the same arguments "
                    f"{seen + 1} times",
                )
        for index, call in enumerate(self.calls):
            await tool_step(ctx, self.step, index, call)
        return Think()


@dataclass(frozen=True, kw_only=True)
class Finish:
    status: RunStatus
    output: str | None = None
    reason: str | None = None

    async def run(self, ctx: RunContext) -> None:
        s = ctx.state
        await ctx.record(
            ctx.key(s.steps, "run_finished"),
            RunFinished(
                status=self.status.value,
                output=self.output,
                reason=self.reason,
                input_tokens=s.usage.input_tokens,
                output_tokens=s.usage.output_tokens,
                cost=str(s.cost),
                steps=s.steps,
                tool_calls=s.tool_calls,
            ),
        )


Node = Think | Act | Finish


async def drive(ctx: RunContext, start: Node | None = None) -> RunStatus:
    """Run nodes until ``Finish``; return the final status."""
    node: Node = start or Think()
    while not isinstance(node, Finish):
        node = await node.run(ctx)
    await node.run(ctx)
    return node.status
