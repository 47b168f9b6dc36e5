"""Cron schedules: agents that start runs by themselves, once per period.

An agent file may declare ``schedule: {cron, goal, tenant}``. ``tether worker`` registers the
schedules of the agents in its agents folder with DBOS's scheduler (``DBOS.apply_schedules``).
Every worker's scheduler wakes at each scheduled time, but the workflow it enqueues has the id
``sched-NAME-TIME``, so DBOS starts it once however many workers run; that workflow creates the
tether run in a step, with an id derived from the schedule and the time (a replayed step finds
it), and enqueues the run's first segment on the workers' queue. A scheduled run is like any
other: policy, budgets, the journal; its ``run_started`` names the schedule and time.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from dbos import DBOS, ScheduleInput

from tether.agent.spec import Agent, load_agent
from tether.durable import engine
from tether.durable.control import workflow_id
from tether.errors import CapabilityDisabled, RunNotFound
from tether.types import RunStatus

log = logging.getLogger("tether.schedules")


def scheduled_run_id(schedule: str, at: datetime) -> str:
    """The run id of ``schedule``'s run at ``at``: the same in every process."""
    ms = int(at.timestamp() * 1000)
    return f"run_{ms:011x}{hashlib.sha256(schedule.encode()).hexdigest()[:8]}"


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@DBOS.step(name="tether.schedule_start")
async def _create_run(at: str, context: dict[str, Any]) -> str:
    runtime = engine.current().runtime
    run_id = scheduled_run_id(context["name"], _when(at))
    try:
        runtime.store.runs.get(run_id)
        return run_id  # created before a crash: this step is being replayed
    except RunNotFound:
        pass
    try:
        await runtime.start(
            load_agent(Path(context["file"])),
            context["goal"],
            status=RunStatus.QUEUED,
            tenant=context.get("tenant"),
            origin={"schedule": context["name"], "scheduled_at": at},
            run_id=run_id,
        )
    except CapabilityDisabled as exc:  # a feature flag switched the schedule off
        log.warning("%s", exc)
        return ""
    return run_id


@DBOS.workflow(name="tether.scheduled")
async def scheduled_workflow(scheduled_at: datetime, context: Any) -> None:
    """One firing of a schedule: create its run and queue the run's first segment."""
    at = _when(scheduled_at).isoformat()
    run_id = await _create_run(at, context)
    if not run_id:
        return  # switched off: nothing started
    await DBOS.enqueue_workflow_with_options_async(
        {
            "workflow_name": "tether.segment",
            "queue_name": engine.QUEUE,
            "workflow_id": workflow_id(run_id, 0),
            "app_version": engine.app_version(),
        },
        run_id,
        0,
    )


def schedule_inputs(agents: list[tuple[Path, Agent]]) -> list[ScheduleInput]:
    out: list[ScheduleInput] = []
    for path, agent in agents:
        if agent.schedule is None:
            continue
        name = f"tether:{agent.name}"
        out.append(
            {
                "schedule_name": name,
                "workflow_fn": scheduled_workflow,
                "schedule": agent.schedule.cron,
                "context": {
                    "name": name,
                    "file": str(path.resolve()),
                    "goal": agent.schedule.goal,
                    "tenant": agent.schedule.tenant,
                },
            }
        )
    return out


def apply(agents_dir: Path) -> list[str]:
    """Register the schedules of ``agents_dir/*.yaml`` (call after launch); their names."""
    found = [(p, load_agent(p)) for p in sorted(agents_dir.glob("*.yaml"))]
    inputs = schedule_inputs(found)
    if inputs:
        DBOS.apply_schedules(inputs)
    return [i["schedule_name"] for i in inputs]
