"""Starting, enqueueing, resuming, adopting, cancelling and forking durable runs.

The rule that keeps two processes from executing one run: a run names its executor
(``tether_runs.executor_id``); it may be taken over only once that executor's lease has expired,
and the take-over is a compare-and-swap on that column, so exactly one claimant wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dbos import DBOS, DBOSClient, DBOSPortableJSONSerializer, SetWorkflowID

from tether.agent.steps import finish_step
from tether.durable import engine
from tether.durable.workflows import segment_workflow
from tether.errors import UsageError
from tether.events import Event, EventKey, RunFinished, RunResumed, RunStarted
from tether.store import RunRecord, write_transaction
from tether.store.approvals import reopen_run_in
from tether.types import RunStatus

if TYPE_CHECKING:
    from tether.agent.context import RunContext
    from tether.runtime import Runtime

OPEN = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


def workflow_id(run_id: str, segment: int) -> str:
    return f"{run_id}:seg{segment}"


def _ensure_launched(runtime: Runtime, kind: str) -> bool:
    """Launch DBOS here unless this process already did; True if launched now."""
    if engine._PROCESS:
        return False
    settings = runtime.settings
    executor = settings.executor_id or engine.default_executor_id(kind)
    engine.launch(runtime, executor_id=executor, kind=kind, lease_s=settings.lease_s)
    return True


async def run_segment(runtime: Runtime, ctx: RunContext) -> None:
    """Execute ``ctx``'s segment as a DBOS workflow in this process and wait for its end."""
    launched = _ensure_launched(runtime, "run")
    try:
        process = engine.current()
        ctx.check_journal = False  # a fresh segment: nothing of it is journaled yet
        process.live[ctx.run_id] = ctx
        await asyncio.to_thread(
            runtime.store.runs.update, ctx.run_id, executor_id=process.executor_id
        )
        with SetWorkflowID(workflow_id(ctx.run_id, ctx.segment)):
            handle = await DBOS.start_workflow_async(segment_workflow, ctx.run_id, ctx.segment)
        await handle.get_result()
    finally:
        if launched:
            engine.shutdown()


def _client(runtime: Runtime) -> DBOSClient:
    """The runtime's DBOS client: made once (migrating DBOS's tables costs ~0.2 s), closed by
    ``Runtime.close``."""

    def make() -> DBOSClient:
        url = engine.system_url(runtime.settings.db_url)
        DBOS.migrate(url)  # a client does not create DBOS's tables itself
        return DBOSClient(
            system_database_url=url,
            system_database_pool_size=2,  # one process steering runs needs few connections
            serializer=DBOSPortableJSONSerializer(),
            application_name=engine.APP_NAME,
        )

    return runtime.resource("dbos_client", make)


def prepare_enqueue(runtime: Runtime) -> None:
    """Make the runtime's DBOS client now (``tether serve`` at start), not in the first
    request that queues a run: importing DBOS and checking its tables takes ~0.5 s of CPU.
    The store opens first: it makes the database (and its folder) that DBOS's tables share."""
    _ = runtime.store
    _client(runtime)


def enqueue_run(runtime: Runtime, run_id: str, segment: int = 0) -> None:
    """Put a segment of a run on the workers' queue: segment 0 of a created run (``tether run
    --detach``), or the next segment of a reopened one (an approval decided)."""
    enqueue_runs(runtime, [run_id], segment)


def enqueue_runs(runtime: Runtime, run_ids: Sequence[str], segment: int = 0) -> None:
    """Put a segment of each run on the workers' queue, through one client. Idempotent: the
    workflow id is the segment's, and enqueueing an existing one changes nothing."""
    client = _client(runtime)
    for run_id in run_ids:
        client.enqueue(
            {
                "workflow_name": "tether.segment",
                "queue_name": engine.QUEUE,
                "workflow_id": workflow_id(run_id, segment),
                "app_version": engine.app_version(),
            },
            run_id,
            segment,
        )


def _live_executor(runtime: Runtime, record: RunRecord) -> str | None:
    if record.executor_id is None:
        return None
    lease = runtime.store.executors.get(record.executor_id)
    if lease is not None and lease.alive(datetime.now(UTC)):
        return record.executor_id
    return None


def _unfinished(runtime: Runtime, run_ref: str, verb: str) -> RunRecord:
    record = runtime.store.runs.find(run_ref)
    if record.status.is_final:
        raise UsageError(f"run {record.id!r} is already {record.status.value}; nothing to {verb}")
    return record


async def resume_run(runtime: Runtime, run_ref: str) -> RunRecord:
    """Go on with a paused run in a new segment, or adopt and finish a run whose executor is
    gone (refused while its executor is alive)."""
    store = runtime.store
    paused = store.runs.find(run_ref)
    if paused.status is RunStatus.PAUSED:
        _not_waiting_for_approval(runtime, paused)
        if _pause_taken(runtime, paused):
            return await _resume_paused(runtime, paused)
        # asked to pause, but it has not stopped yet: withdraw the request
        store.controls.request_status(paused.id, RunStatus.RUNNING, when=(RunStatus.PAUSED,))
        if _live_executor(runtime, paused) is not None:
            return store.runs.get(paused.id)  # its process goes on with it
    record = _unfinished(runtime, run_ref, "resume")
    alive = _live_executor(runtime, record)
    if alive is not None:
        raise UsageError(
            f"run {record.id!r} is being executed by {alive!r}, whose lease is live; "
            "it can be resumed only after that process stops or its lease expires"
        )
    launched = _ensure_launched(runtime, "resume")
    try:
        me = engine.current().executor_id
        if not store.executors.claim_run(record.id, record.executor_id, me):
            raise UsageError(f"run {record.id!r} was just adopted by another process")
        await _continue(record.id, record.segment)
    finally:
        if launched:
            engine.shutdown()
    return store.runs.get(record.id)


def _not_waiting_for_approval(runtime: Runtime, record: RunRecord) -> None:
    """A run paused for an approval goes on once the approval is decided, not by resume."""
    waiting = runtime.store.approvals.list(run_id=record.id)
    for a in waiting:
        if a.segment == record.segment and a.is_open:
            raise UsageError(
                f"run {record.id!r} waits for approval {a.id!r} of {a.subject!r}; decide it "
                f"with `tether approvals approve {a.id}` or `tether approvals deny {a.id} "
                "--reason TEXT`"
            )


def _pause_taken(runtime: Runtime, record: RunRecord) -> bool:
    """Whether the run journaled ``run_paused`` in its segment (its segment has ended)."""
    paused = runtime.store.journal.read(record.id, kinds=["run_paused"])
    return any(e.key.segment == record.segment for e in paused)


async def _resume_paused(runtime: Runtime, record: RunRecord) -> RunRecord:
    """A paused run's next segment, executed here: ``run_resumed`` closes the paused segment
    (so a rebuild of the new one starts from a running state), then the new segment runs."""
    store = runtime.store
    launched = _ensure_launched(runtime, "resume")
    try:
        me = engine.current().executor_id
        if not store.executors.claim_run(record.id, record.executor_id, me):
            raise UsageError(f"run {record.id!r} was just resumed by another process")
        segment = record.segment + 1
        steps = len(store.journal.read(record.id, kinds=["model_response"]))
        key = EventKey(run_id=record.id, segment=record.segment, step=steps, kind="run_resumed")
        store.journal.append(Event(key=key, payload=RunResumed(segment=segment)))
        store.runs.update(record.id, status=RunStatus.RUNNING, segment=segment, reason=None)
        ctx = runtime.rebuild(record.id, segment)
        await run_segment(runtime, ctx)
    finally:
        if launched:
            engine.shutdown()
    return store.runs.get(record.id)


def enqueue_resume(runtime: Runtime, run_ref: str) -> RunRecord:
    """Go on with a paused run in its next segment on a worker (the HTTP service's resume):
    ``run_resumed`` closes the paused segment and the run is queued, in one transaction."""
    store = runtime.store
    record = store.runs.find(run_ref)
    if record.status is not RunStatus.PAUSED or not _pause_taken(runtime, record):
        raise UsageError(
            f"run {record.id!r} is {record.status.value}, not paused: only a paused run is "
            "resumed here (a run whose executor died is adopted by `tether worker "
            "--adopt-expired` or `tether runs resume`)"
        )
    _not_waiting_for_approval(runtime, record)
    steps = len(store.journal.read(record.id, kinds=["model_response"]))
    key = EventKey(run_id=record.id, segment=record.segment, step=steps, kind="run_resumed")
    with write_transaction(store.engine) as conn:
        if not reopen_run_in(conn, record.id, record.segment, runtime.clock.now()):
            raise UsageError(f"run {record.id!r} was just resumed by another process")
        store.journal.store_in(
            conn, [Event(key=key, payload=RunResumed(segment=record.segment + 1))]
        )
    enqueue_run(runtime, record.id, record.segment + 1)
    return store.runs.get(record.id)


def pause_run(runtime: Runtime, run_ref: str) -> RunRecord:
    """Ask a running run to pause: it stops before its next step, its segment ends and it holds
    no worker until ``resume_run``. Only a run that a live process executes can be paused."""
    store = runtime.store
    record = store.runs.find(run_ref)
    if record.status is RunStatus.PAUSED:
        raise UsageError(f"run {record.id!r} is already paused; `tether runs resume` goes on")
    record = _unfinished(runtime, run_ref, "pause")
    if record.status is RunStatus.QUEUED:
        raise UsageError(
            f"run {record.id!r} is queued and has not started; cancel it, or pause it once a "
            "worker runs it"
        )
    if _live_executor(runtime, record) is None:
        raise UsageError(
            f"run {record.id!r} has no live process executing it; `tether runs resume` it "
            "(it then runs here) or cancel it"
        )
    if not store.controls.request_status(record.id, RunStatus.PAUSED, when=(RunStatus.RUNNING,)):
        raise UsageError(f"run {record.id!r} finished before it could be paused")
    return store.runs.get(record.id)


async def _continue(run_id: str, segment: int) -> None:
    wid = workflow_id(run_id, segment)
    if await DBOS.get_workflow_status_async(wid) is None:  # queued but never started
        with SetWorkflowID(wid):
            handle = await DBOS.start_workflow_async(segment_workflow, run_id, segment)
        await handle.get_result()
        return
    resumed = await DBOS.resume_workflow_async(wid)
    await resumed.get_result()


def adopt_expired(runtime: Runtime) -> list[str]:
    """Take over the open runs of executors whose lease expired (``worker --adopt-expired``).

    Each run tether records under a dead executor is claimed by compare-and-swap; then DBOS
    re-enqueues the dead executor's pending segments (on the queue they came from, so the
    concurrency limits hold) and any worker dequeues each one exactly once. That also covers
    a segment DBOS had dequeued but whose first step had not yet recorded its executor.
    """
    store = runtime.store
    me = engine.current().executor_id
    dead = [e for e in store.executors.expired() if e != me]
    if not dead:
        return []
    pending = DBOS.list_workflows(
        status="PENDING", executor_id=dead, load_input=False, load_output=False
    )
    owners = {w.executor_id for w in pending if w.executor_id is not None}
    open_runs = store.executors.open_runs(dead, OPEN)
    claimed = [
        run_id for run_id, owner in open_runs if store.executors.claim_run(run_id, owner, me)
    ]
    adopted = set(claimed)
    for executor_id in sorted(owners & set(dead)):
        for handle in DBOS._recover_pending_workflows([executor_id]):
            adopted.add(handle.workflow_id.rpartition(":seg")[0])
    # dead executors with nothing left to adopt need not be looked at again
    store.executors.prune(sorted(set(dead) - owners - {o for _, o in open_runs}))
    return sorted(adopted)


async def cancel_run(runtime: Runtime, run_ref: str) -> RunRecord:
    """Stop a run: a live executor stops it before its next step; otherwise it ends here."""
    store = runtime.store
    record = store.runs.find(run_ref)
    paused = record.status is RunStatus.PAUSED  # its segment has ended: end it here
    if not paused:
        record = _unfinished(runtime, run_ref, "cancel")
    store.runs.update(record.id, status=RunStatus.CANCELLED)
    if paused or _live_executor(runtime, record) is None:
        client = _client(runtime)
        try:
            if client.retrieve_workflow(workflow_id(record.id, record.segment)) is not None:
                client.cancel_workflow(workflow_id(record.id, record.segment))
        except Exception:  # no such workflow: the run never reached a worker
            pass
        ctx = runtime.rebuild(record.id, record.segment, upto_segment=False, need_model=False)
        await finish_step(ctx, RunStatus.CANCELLED, None, "cancelled by an operator")
    return store.runs.get(record.id)


async def fork_run(runtime: Runtime, run_ref: str, from_step: int) -> RunRecord:
    """A new run that copies RUN's journal before step ``from_step`` (1-based, as shown by
    ``tether runs show``) and executes on from there."""
    store = runtime.store
    source = store.runs.find(run_ref)
    if from_step < 1 or from_step > source.steps + 1:
        raise UsageError(f"--from must be a step between 1 and {source.steps + 1}")
    events = [
        e
        for e in store.journal.read(source.id)
        if e.kind == "run_started" or (e.key.step < from_step - 1 and e.kind != "run_finished")
    ]
    if any(isinstance(e.payload, RunStarted) and e.payload.team for e in events):
        raise UsageError(
            f"run {source.id!r} is a team run; forking team runs is not supported yet: run "
            "the team again instead"
        )
    new = runtime_new_id(runtime)
    now = datetime.now(UTC)
    store.runs.create(
        RunRecord(
            id=new,
            agent=source.agent,
            agent_version=source.agent_version,
            goal=source.goal,
            model=source.model,
            status=RunStatus.RUNNING,
            created_at=now,
            updated_at=now,
            parent_run_id=source.id,
        )
    )
    store.journal.append_many(
        Event(
            key=EventKey(
                run_id=new, segment=e.key.segment, step=e.key.step, kind=e.kind, index=e.key.index
            ),
            payload=e.payload,
            ts=e.ts,
        )
        for e in events
        if not isinstance(e.payload, RunFinished)
    )
    segment = max(e.key.segment for e in events) + 1
    store.runs.update(new, segment=segment)
    ctx = runtime.rebuild(new, segment)
    await run_segment(runtime, ctx)
    return store.runs.get(new)


def runtime_new_id(runtime: Runtime) -> str:
    from tether.runtime import new_run_id

    return new_run_id(runtime.clock)
