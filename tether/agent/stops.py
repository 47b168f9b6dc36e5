"""Stops a step can ask for: cancel and kill from outside, ``needs_review`` from inside.

A step that must not run returns a stop marker instead of event ids (``stop:<status>`` and an
optional reason); the loop finishes the run with that status. Markers are references like any
other, so a durable replay takes the same path.
"""

from __future__ import annotations

import asyncio

from tether.agent.context import RunContext
from tether.types import RunStatus

StepRefs = tuple[str, ...]

STOP_PREFIX = "stop:"
_STOPS = frozenset({RunStatus.CANCELLED, RunStatus.KILLED})


async def requested_stop(ctx: RunContext) -> RunStatus | None:
    """A stop asked for from outside (``tether runs cancel``, the kill switch), or None.

    The status comes from right after the previous step's journal write when this segment
    made one (nothing but bookkeeping happens between that write and this check), else from a
    query.
    """
    status = ctx.take_observed_status()
    if status is None:
        status = await asyncio.to_thread(ctx.store.runs.status, ctx.run_id)
    return status if status in _STOPS else None


def stop_refs(status: RunStatus, reason: str | None = None) -> StepRefs:
    """The result of a step that did not run because the run must stop."""
    return (STOP_PREFIX + status.value, *((reason,) if reason else ()))


def stopped(refs: StepRefs) -> tuple[RunStatus, str | None] | None:
    """The status (and reason) a step asked the run to stop with, or None."""
    if refs and refs[0].startswith(STOP_PREFIX):
        return RunStatus(refs[0].removeprefix(STOP_PREFIX)), (refs[1] if len(refs) > 1 else None)
    return None
