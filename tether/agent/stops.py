"""Stops a step can ask for: cancel, pause and kill from outside, ``needs_review`` from inside.

A step that must not run returns a stop marker instead of event ids (``stop:<status>`` and an
optional reason); the loop finishes the run with that status, or, for ``paused``, ends the
segment with ``run_paused`` (:func:`pause_step`) so that a resume goes on from there. Markers
are references like any other, so a durable replay takes the same path. The checks that ask
for these stops are in ``tether.governance.preflight``.
"""

from __future__ import annotations

import asyncio

from tether.agent.context import RunContext
from tether.events import RunPaused
from tether.types import RunStatus

StepRefs = tuple[str, ...]

STOP_PREFIX = "stop:"


async def pause_step(ctx: RunContext, reason: str | None) -> StepRefs:
    """End the segment with ``run_paused``; the run keeps its state for ``tether runs resume``."""
    s = ctx.state
    key = ctx.key(s.steps, "run_paused")
    if await ctx.journaled(key) is None:
        await ctx.record(key, RunPaused(reason=reason))
    await asyncio.to_thread(
        ctx.store.runs.update,
        ctx.run_id,
        status=RunStatus.PAUSED,
        reason=reason,
        input_tokens=s.usage.input_tokens,
        output_tokens=s.usage.output_tokens,
        cost_micros=int(s.cost * 1_000_000),
        steps=s.steps,
        tool_calls=s.tool_calls,
    )
    return (key.id,)


def stop_refs(status: RunStatus, reason: str | None = None) -> StepRefs:
    """The result of a step that did not run because the run must stop."""
    return (STOP_PREFIX + status.value, *((reason,) if reason else ()))


def stopped(refs: StepRefs) -> tuple[RunStatus, str | None] | None:
    """The status (and reason) a step asked the run to stop with, or None."""
    if refs and refs[0].startswith(STOP_PREFIX):
        return RunStatus(refs[0].removeprefix(STOP_PREFIX)), (refs[1] if len(refs) > 1 else None)
    return None
