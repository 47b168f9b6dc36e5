"""The two moves plan and reflect modes make, each through the run's ``StepRunner``.

``ask`` is one model step with a request of the mode's own (a plan, a draft, a verdict), on a
chosen model; ``run_wave`` journals a wave of tool calls (``plan_wave``) and runs them with the
ReAct loop's ``Act`` node, so every call is still validated, policy-checked, budgeted,
journaled and (with the durable runner) a durable step; reads run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tether.agent.context import RunContext
from tether.agent.loop import Act, Finish
from tether.agent.runner import StepRunner
from tether.agent.stops import stopped
from tether.events import PlanWave
from tether.types import AssistantMessage, ModelRequest, RunStatus, ToolCall


@dataclass(frozen=True, kw_only=True)
class Answer:
    text: str | None
    step: int  # the step position of the model call


def caps_stop(ctx: RunContext) -> Finish | None:
    """The run's caps on steps and tokens (as ``Think`` checks them)."""
    state, limits = ctx.state, ctx.agent.limits
    if state.steps >= limits.max_steps:
        return Finish(status=RunStatus.MAX_STEPS, reason=f"reached max_steps={limits.max_steps}")
    if state.usage.total_tokens >= limits.max_tokens:
        return Finish(
            status=RunStatus.BUDGET_EXCEEDED,
            reason=f"used {state.usage.total_tokens} tokens of max_tokens={limits.max_tokens}",
        )
    return None


async def ask(
    ctx: RunContext,
    runner: StepRunner,
    build: Callable[[RunContext], ModelRequest],
    model_id: str | None = None,
) -> Answer | Finish:
    """One journaled model step asking ``build(ctx)`` of ``model_id`` (default: the run's)."""
    stop = caps_stop(ctx)
    if stop is not None:
        return stop
    step = ctx.state.steps
    saved = ctx.model
    if model_id is not None and ctx.models is not None and model_id != ctx.model.id:
        ctx.model = ctx.models(model_id)
    ctx.request_builder = build
    try:
        refs = await runner.model(ctx, step)
    finally:
        ctx.request_builder, ctx.model = None, saved
    halted = stopped(refs)
    if halted is not None:
        status, why = halted
        return Finish(status=status, reason=why or f"run {status.value} before step {step + 1}")
    await ctx.ensure_applied(refs)
    if ctx.state.model_error is not None:
        return Finish(status=RunStatus.FAILED, reason=f"model error: {ctx.state.model_error}")
    last = ctx.state.messages[-1] if ctx.state.messages else None
    text = last.content if isinstance(last, AssistantMessage) else None
    return Answer(text=text, step=step)


def wave_calls(version: int, items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[ToolCall]:
    """Tool calls for ``(step id, tool, resolved arguments)``; ids say plan and step."""
    return [
        ToolCall(id=f"p{version}_{sid}", name=tool, arguments=args) for sid, tool, args in items
    ]


async def run_wave(
    ctx: RunContext,
    runner: StepRunner,
    version: int,
    items: Sequence[tuple[str, str, dict[str, Any]]],
) -> Finish | None:
    """Journal the wave, then run its calls; a ``Finish`` when the run must stop."""
    stop = caps_stop(ctx)
    if stop is not None:
        return stop
    position = ctx.state.steps
    calls = wave_calls(version, items)
    await ctx.record(
        ctx.key(position, "plan_wave"),
        PlanWave(
            version=version,
            step_ids=[sid for sid, _, _ in items],
            calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
        ),
    )
    return await resume_wave(ctx, runner, position)


async def resume_wave(ctx: RunContext, runner: StepRunner, position: int) -> Finish | None:
    """Run the calls of the wave at ``position`` that have not finished."""
    state = ctx.state
    done = frozenset(state.done_calls)
    if len(done) >= len(state.pending_calls):
        return None
    after = await Act(step=position, calls=state.pending_calls, done=done).run(ctx, runner)
    return after if isinstance(after, Finish) else None
