"""A run segment as a DBOS workflow; each model call, tool call and the finish as a DBOS step.

Steps take ``(run_id, segment, step[, index])`` and return the ids of the journal events they
wrote: DBOS records only those references (as JSON), never prompts or tool payloads. After a
crash DBOS re-runs the segment's workflow; recorded steps return their references without
running, the loop applies the referenced events from the journal, and the first unrecorded
step runs for real. The model and tool steps' journal events commit in the transaction that
records the step (``tether.durable.fold``); events committed on their own before (a side
effect's intent, a run recovered before the fold was installed) are found in the journal and
not redone (``RunContext.check_journal``).

Stops asked for from outside (cancel, pause, kill switches), operator instructions and budgets
are checked inside the model and tool steps (``tether.governance.preflight``), so a replay takes the
same path as the original execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from dbos import DBOS
from dbos._error import DBOSException

from tether.agent.context import RunContext
from tether.agent.runner import gated_batch, gated_model, gated_tool
from tether.agent.steps import finish_step
from tether.agent.stops import StepRefs
from tether.durable import engine
from tether.types import RunStatus


def _context(run_id: str, segment: int) -> RunContext:
    process = engine.current()
    ctx = process.live.get(run_id)
    if ctx is None or ctx.segment != segment:
        ctx = process.runtime.rebuild(run_id, segment)
        ctx.check_journal = True
        process.live[run_id] = ctx
    return ctx


@DBOS.step(name="tether.model")
async def _model(run_id: str, segment: int, step: int) -> list[str]:
    with engine.folded():
        return list(await gated_model(_context(run_id, segment), step))


@DBOS.step(name="tether.tool")
async def _tool(run_id: str, segment: int, step: int, index: int) -> list[str]:
    with engine.folded():
        return list(await gated_tool(_context(run_id, segment), step, index))


@DBOS.step(name="tether.tool_batch")
async def _tool_batch(run_id: str, segment: int, step: int, indices: list[int]) -> list[str]:
    with engine.folded():
        return list(await gated_batch(_context(run_id, segment), step, indices))


@DBOS.step(name="tether.finish")
async def _finish(
    run_id: str, segment: int, status: str, output: str | None, reason: str | None
) -> list[str]:
    ctx = _context(run_id, segment)
    return list(await finish_step(ctx, RunStatus(status), output, reason))


class DurableRunner:
    """Runs the loop's steps as DBOS steps of the current segment workflow."""

    async def model(self, ctx: RunContext, step: int) -> StepRefs:
        return tuple(await _model(ctx.run_id, ctx.segment, step))

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs:
        return tuple(await _tool(ctx.run_id, ctx.segment, step, index))

    async def batch(self, ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs:
        return tuple(await _tool_batch(ctx.run_id, ctx.segment, step, list(indices)))

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs:
        # DBOS stores a step's output, not its inputs: the answer stays in the journal
        return tuple(await _finish(ctx.run_id, ctx.segment, status.value, output, reason))


@DBOS.workflow(name="tether.segment")
async def segment_workflow(run_id: str, segment: int) -> str:
    """Execute one segment of a run to its end; returns the run's status."""
    process = engine.current()
    # the rebuild's reads and the status write block: off DBOS's loop, where the other
    # segments of this worker wait on their model calls
    ctx = await asyncio.to_thread(_context, run_id, segment)
    # not when the run already ended or a stop was asked: the loop replays to that
    await asyncio.to_thread(
        process.runtime.store.runs.start_segment, run_id, process.executor_id, segment
    )
    try:
        async with process.runtime.connect_mcp(ctx):  # a resumed run's MCP servers
            await process.runtime.drive(ctx, DurableRunner(), reraise=(DBOSException,))
    finally:
        process.live.pop(run_id, None)
        engine.unfold(DBOS.workflow_id)
    return ctx.state.status.value
