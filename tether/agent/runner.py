"""How the loop runs its steps: directly, or through a durable layer.

The loop never calls a step function itself; it asks its ``StepRunner``. ``DirectRunner`` calls
the step in this process. ``tether.durable`` provides a runner that makes each call a durable
step (DBOS) recording only the references the step returns. Either way the loop then makes sure
the referenced events are applied to the run state (they already are, unless a durable replay
returned a step's recorded result without running it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tether.agent.batch_step import tool_batch_step
from tether.agent.context import RunContext
from tether.agent.steps import finish_step, model_step, tool_step
from tether.agent.stops import StepRefs, requested_stop, stop_refs
from tether.types import RunStatus


class StepRunner(Protocol):
    async def model(self, ctx: RunContext, step: int) -> StepRefs: ...

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs: ...

    async def batch(self, ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs: ...

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs: ...


class DirectRunner:
    """Runs each step in this process."""

    async def model(self, ctx: RunContext, step: int) -> StepRefs:
        stop = await requested_stop(ctx)
        return stop_refs(stop) if stop is not None else await model_step(ctx, step)

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs:
        return await tool_step(ctx, step, index)

    async def batch(self, ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs:
        return await tool_batch_step(ctx, step, indices)

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs:
        return await finish_step(ctx, status, output, reason)
