"""How the loop runs its steps: directly, or through a durable layer.

The loop never calls a step function itself; it asks its ``StepRunner``. ``DirectRunner`` calls
the step in this process. ``tether.durable`` provides a runner that makes each call a durable
step (DBOS) recording only the references the step returns. Either way the loop then makes sure
the referenced events are applied to the run state (they already are, unless a durable replay
returned a step's recorded result without running it).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from tether.agent.context import RunContext
from tether.agent.steps import StepRefs, finish_step, model_step, tool_step
from tether.types import RunStatus


class StepRunner(Protocol):
    async def model(self, ctx: RunContext, step: int) -> StepRefs: ...

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs: ...

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs: ...


class DirectRunner:
    """Runs each step in this process, in order."""

    async def model(self, ctx: RunContext, step: int) -> StepRefs:
        stop = await requested_stop(ctx)
        return stop_refs(stop) if stop is not None else await model_step(ctx, step)

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs:
        return await tool_step(ctx, step, index)

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs:
        return await finish_step(ctx, status, output, reason)


STOP_PREFIX = "stop:"
_STOPS = frozenset({RunStatus.CANCELLED, RunStatus.KILLED})


async def requested_stop(ctx: RunContext) -> RunStatus | None:
    """A stop asked for from outside (``tether runs cancel``, the kill switch), or None."""
    record = await asyncio.to_thread(ctx.store.runs.get, ctx.run_id)
    return record.status if record.status in _STOPS else None


def stop_refs(status: RunStatus) -> StepRefs:
    """The result of a step that did not run because the run was stopped."""
    return (STOP_PREFIX + status.value,)


def stopped(refs: StepRefs) -> RunStatus | None:
    if refs and refs[0].startswith(STOP_PREFIX):
        return RunStatus(refs[0].removeprefix(STOP_PREFIX))
    return None
