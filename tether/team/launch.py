"""Starting and driving a team run from the ``Runtime``: one run record, one journal.

``start_team`` checks every role's agent and model before anything is stored, creates the run
and journals ``run_started`` (with the team's portable spec, so another process can rebuild
it); ``drive_team`` runs the protocol and journals ``run_finished``; ``team_result`` is the
run's ``RunResult``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tether.agent.context import RunContext
from tether.agent.spec import Agent
from tether.agent.state import RunState
from tether.events import RunStarted
from tether.flags.apply import enforce_flags, load_flags_async
from tether.flags.model import Flags
from tether.governance.budget import Budget
from tether.models.base import Model
from tether.store import RunRecord
from tether.team import protocols
from tether.team.handoff import supervisor
from tether.team.run import RunnerFor, TeamRun
from tether.team.spec import Team
from tether.tools import ToolRegistry
from tether.types import RunStatus, Usage

if TYPE_CHECKING:
    from tether.runtime import RunResult, Runtime

log = logging.getLogger("tether.team")

PROTOCOLS = {
    "pipeline": protocols.pipeline,
    "group_chat": protocols.group_chat,
    "supervisor": supervisor,
}


def team_run(
    runtime: Runtime, team: Team, top: RunContext, user: str | None, flags: Flags | None = None
) -> TeamRun:
    """The in-process driver of a team run whose ``top`` context exists. ``flags``: the
    feature flags of the run's tenant and user group, applied to each role's turn like to a
    single agent's run (its tools, memory writes, autonomy cap) and journaled there as
    ``flag_applied`` at the turn's first step position."""

    def make_context(
        agent: Agent, model: Model, registry: ToolRegistry, state: RunState
    ) -> RunContext:
        ctx = runtime._context(top.run_id, top.segment, agent, model, registry, state)
        ctx.gate = runtime.gate(agent, top.tenant, user)
        ctx.tenant = top.tenant
        ctx.check_journal = top.check_journal
        ctx.on_delta = top.on_delta
        runtime.attach_memory(ctx, user)  # a role with ``memory:`` gets its memory tools
        return ctx

    async def prepare(ctx: RunContext) -> None:
        if flags is not None:
            await enforce_flags(ctx, flags)

    return TeamRun(
        team=team,
        top=top,
        make_context=make_context,
        resolve_model=lambda agent: runtime.resolve_model(agent, None),
        prepare=prepare,
    )


async def start_team(
    runtime: Runtime,
    team: Team,
    goal: str,
    *,
    tenant: str | None = None,
    user: str | None = None,
    budget: Budget | None = None,
    user_group: str | None = None,
) -> TeamRun:
    """Check the roles, create the run and journal ``run_started``. ``user_group`` (default:
    the settings'): the user's group, for feature flags (``tether flags``)."""
    from tether.runtime import new_run_id, tether_version

    charters = [r.charter_agent() for r in team.roles]
    models = [runtime.resolve_model(a, None) for a in charters]  # a bad model id fails here
    for a in charters:
        a.resolved_tools(http_allow=runtime.settings.http_allow)
    runtime.policies.current()
    if budget is not None and not budget.empty:
        team = _with_budget(team, budget)
    tenant = tenant or runtime.settings.tenant
    user = user if user is not None else runtime.settings.user
    user_group = user_group if user_group is not None else runtime.settings.user_group
    flags = await load_flags_async(runtime.store, tenant, user_group)
    run_id = new_run_id(runtime.clock)
    now = runtime.clock.now()
    lead = charters[0] if team.manager is None else team.role(team.manager).charter_agent()
    await asyncio.to_thread(
        runtime.store.runs.create,
        RunRecord(
            id=run_id,
            agent=team.name,
            agent_version=team.version,
            tether_version=tether_version(),
            goal=goal,
            model=models[0].id,
            status=RunStatus.RUNNING,
            created_at=now,
            updated_at=now,
            tenant=tenant,
            user_group=user_group,
        ),
    )
    top = runtime._context(run_id, 0, lead, models[0], ToolRegistry([]), RunState(run_id=run_id))
    top.tenant = tenant
    top.budgets = runtime.budgets(lead, tenant, Budget())
    await top.record(
        top.key(0, "run_started"),
        RunStarted(
            goal=goal,
            agent=team.name,
            agent_version=team.version,
            agent_spec=lead.portable_spec().model_dump(mode="json"),
            model=models[0].id,
            tools=sorted({t.contract.name for a in charters for t in a.resolved_tools()}),
            limits=team.arbiter.model_dump(),
            tether_version=tether_version(),
            tenant=tenant,
            user=user,
            budget=team.budget.model_dump(mode="json", exclude_none=True),
            team=team.spec().model_dump(mode="json"),
            user_group=user_group,
        ),
    )
    return team_run(runtime, team, top, user, flags)


def _with_budget(team: Team, budget: Budget) -> Team:
    """The team with a run budget: the tighter of each limit."""
    from dataclasses import replace

    merged = {
        k: min(v for v in (getattr(team.budget, k), getattr(budget, k)) if v is not None)
        for k in ("tokens", "money", "tool_calls", "wall_s")
        if getattr(team.budget, k) is not None or getattr(budget, k) is not None
    }
    return replace(team, budget=Budget(**merged))


async def drive_team(
    tr: TeamRun,
    runner_for: RunnerFor | None = None,
    *,
    reraise: tuple[type[BaseException], ...] = (),
) -> RunStatus:
    """Run the protocol to its end and journal ``run_finished``; a crash still leaves a
    final run (``failed``) unless it is one of ``reraise`` (the durable layer's own)."""
    if runner_for is not None:
        tr.runner_for = runner_for
    try:
        status, output, reason = await PROTOCOLS[tr.team.protocol](tr, tr.top.state.goal)
    except reraise:
        raise
    except Exception as exc:
        log.exception("team run %s crashed", tr.top.run_id)
        status, output, reason = (
            RunStatus.FAILED,
            None,
            f"internal error: {type(exc).__name__}: {exc}",
        )
    await tr.finish(status, output, reason)
    tr.top.state.status, tr.top.state.output, tr.top.state.reason = status, output, reason
    return status


def team_result(tr: TeamRun, wall_s: float) -> RunResult:
    from tether.runtime import RunResult

    s = tr.top.state
    return RunResult(
        run_id=tr.top.run_id,
        status=s.status,
        output=s.output,
        reason=s.reason,
        usage=sum((t.usage for t in tr.turns), Usage()),
        cost=s.cost,
        steps=s.steps,
        tool_calls=s.tool_calls,
        wall_s=wall_s,
        agent=tr.team.name,
        model=tr.top.model.id,
    )


async def run_team(
    runtime: Runtime,
    team: Team,
    goal: str,
    *,
    tenant: str | None = None,
    user: str | None = None,
    budget: Budget | None = None,
    on_delta: Callable[[str], None] | None = None,
    user_group: str | None = None,
) -> RunResult:
    """Run ``team`` on ``goal`` as one run (a durable segment when the runtime is durable)."""
    started = time.perf_counter()
    tr = await start_team(
        runtime, team, goal, tenant=tenant, user=user, budget=budget, user_group=user_group
    )
    tr.top.on_delta = on_delta
    if runtime.durable:
        from tether.durable.team import run_team_segment  # DBOS lives only in tether.durable

        await run_team_segment(runtime, tr)
    else:
        await drive_team(tr)
    await asyncio.to_thread(runtime.export_trace, tr.top.run_id)
    return team_result(tr, time.perf_counter() - started)
