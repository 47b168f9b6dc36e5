"""A team run's segment as a DBOS workflow; every role's model and tool calls as DBOS steps.

The steps take ``(run_id, segment, turn, step[, index])``: the turn names the role's context in
this process (``Process.roles``), which the team driver registers when the turn starts. After a
crash DBOS re-runs the workflow: the team is rebuilt from its ``run_started`` event, the
protocol runs again from the start, recorded steps return their journal references without
running, and team events are keyed by position, so nothing is journaled twice. Handoffs of one
manager step run one after another here, so DBOS numbers the steps the same way every time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbos import DBOS, SetWorkflowID
from dbos._error import DBOSException

from tether.agent.context import RunContext
from tether.agent.runner import gated_batch, gated_model, gated_tool
from tether.agent.stops import StepRefs
from tether.durable import engine
from tether.errors import StoreError
from tether.events import RunStarted
from tether.types import RunStatus

if TYPE_CHECKING:
    from tether.runtime import Runtime
    from tether.team.run import TeamRun


def _role(run_id: str, turn: int) -> RunContext:
    ctx = engine.current().roles.get((run_id, turn))
    if ctx is None:
        raise StoreError(f"team run {run_id!r} has no live turn {turn}; resume the run")
    return ctx


@DBOS.step(name="tether.team.model")
async def _model(run_id: str, segment: int, turn: int, step: int) -> list[str]:
    with engine.folded():
        return list(await gated_model(_role(run_id, turn), step))


@DBOS.step(name="tether.team.tool")
async def _tool(run_id: str, segment: int, turn: int, step: int, index: int) -> list[str]:
    with engine.folded():
        return list(await gated_tool(_role(run_id, turn), step, index))


@DBOS.step(name="tether.team.tool_batch")
async def _batch(run_id: str, segment: int, turn: int, step: int, indices: list[int]) -> list[str]:
    with engine.folded():
        return list(await gated_batch(_role(run_id, turn), step, indices))


class RoleRunner:
    """One turn's model and tool steps as DBOS steps (the turn's finish is the team's)."""

    def __init__(self, turn: int) -> None:
        self.turn = turn

    async def model(self, ctx: RunContext, step: int) -> StepRefs:
        return tuple(await _model(ctx.run_id, ctx.segment, self.turn, step))

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs:
        return tuple(await _tool(ctx.run_id, ctx.segment, self.turn, step, index))

    async def batch(self, ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs:
        return tuple(await _batch(ctx.run_id, ctx.segment, self.turn, step, list(indices)))

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs:
        raise AssertionError("a team turn's finish is journaled by the team, not the runner")


def rebuild_team(runtime: Runtime, run_id: str, segment: int) -> TeamRun:
    """A team run rebuilt from its journal in any process (a recovered segment)."""
    from tether.team.launch import team_run
    from tether.team.spec import TeamSpec, team_from_spec

    events = runtime.store.journal.read(run_id, kinds=["run_started"])
    started = events[0].payload if events else None
    if not isinstance(started, RunStarted) or started.team is None:
        raise StoreError(f"run {run_id!r} is not a team run (no team in its run_started)")
    team = team_from_spec(TeamSpec.model_validate(started.team), source=f"run {run_id}")
    from tether.flags.apply import load_flags

    top = runtime.rebuild(run_id, segment)
    top.check_journal = True
    flags = load_flags(runtime.store, started.tenant, started.user_group)
    return team_run(runtime, team, top, started.user, flags)


@DBOS.workflow(name="tether.team_segment")
async def team_workflow(run_id: str, segment: int) -> str:
    """Execute a team run's segment to its end; returns the run's status."""
    from tether.team.launch import drive_team

    process = engine.current()
    tr = process.teams.get(run_id) or rebuild_team(process.runtime, run_id, segment)
    tr.parallel = False
    tr.on_context = lambda turn, ctx: process.roles.__setitem__((run_id, turn), ctx)
    # not when the run already ended or a stop was asked: the turns replay to that
    process.runtime.store.runs.start_segment(run_id, process.executor_id, segment)
    try:
        await drive_team(tr, RoleRunner, reraise=(DBOSException,))
    finally:
        process.teams.pop(run_id, None)
        for key in [k for k in process.roles if k[0] == run_id]:
            process.roles.pop(key)
        engine.unfold(DBOS.workflow_id)
    return tr.top.state.status.value


async def run_team_segment(runtime: Runtime, tr: TeamRun) -> None:
    """Execute a team run's first segment as a DBOS workflow here and wait for its end."""
    from tether.durable.control import _ensure_launched, workflow_id

    launched = _ensure_launched(runtime, "run")
    try:
        process = engine.current()
        run_id = tr.top.run_id
        process.teams[run_id] = tr
        await asyncio.to_thread(runtime.store.runs.update, run_id, executor_id=process.executor_id)
        with SetWorkflowID(workflow_id(run_id, tr.top.segment)):
            handle = await DBOS.start_workflow_async(team_workflow, run_id, tr.top.segment)
        await handle.get_result()
    finally:
        if launched:
            engine.shutdown()
