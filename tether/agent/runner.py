"""How the loop runs its steps: directly, or through a durable layer.

The loop never calls a step function itself; it asks its ``StepRunner``. ``DirectRunner`` calls
the step in this process. ``tether.durable`` provides a runner that makes each call a durable
step (DBOS) recording only the references the step returns. Either way the loop then makes sure
the referenced events are applied to the run state (they already are, unless a durable replay
returned a step's recorded result without running it). Every model and tool step first passes
the pre-step checks of ``tether.governance.preflight``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tether.agent.batch_step import tool_batch_step
from tether.agent.context import RunContext
from tether.agent.steps import finish_step, model_step, tool_step
from tether.agent.stops import StepRefs
from tether.governance.preflight import before_batch, before_model, before_tool
from tether.types import RunStatus


class StepRunner(Protocol):
    async def model(self, ctx: RunContext, step: int) -> StepRefs: ...

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs: ...

    async def batch(self, ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs: ...

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs: ...


async def gated_model(ctx: RunContext, step: int) -> StepRefs:
    """The model step behind the pre-step checks (stops, kill switches, budgets); operator
    instructions taken in come first in the refs, so a replay applies them first too."""
    stop, seen = await before_model(ctx, step)
    return stop if stop is not None else (*seen, *await model_step(ctx, step))


async def gated_tool(ctx: RunContext, step: int, index: int) -> StepRefs:
    """The tool step behind the pre-step checks (stops, tool kill switches, budgets)."""
    refused = await before_tool(ctx, step, index)
    return refused if refused is not None else await tool_step(ctx, step, index)


async def gated_batch(ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs:
    """A batch of one tool's calls behind the pre-step checks (stops, kill switch, budgets)."""
    refused = await before_batch(ctx, step, indices)
    return refused if refused is not None else await tool_batch_step(ctx, step, indices)


class DirectRunner:
    """Runs each step in this process."""

    async def model(self, ctx: RunContext, step: int) -> StepRefs:
        return await gated_model(ctx, step)

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs:
        return await gated_tool(ctx, step, index)

    async def batch(self, ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs:
        return await gated_batch(ctx, step, indices)

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs:
        return await finish_step(ctx, status, output, reason)
