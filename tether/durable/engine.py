"""DBOS in this process: launch with an executor id and a lease, heartbeat, shut down.

DBOS is a process-wide singleton (DESIGN §2.2), so this module, and only this module, holds the
process's durable state: the ``Runtime`` that workflows execute with and the live contexts of
runs started here. Everything else talks to ``tether.durable``'s functions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import sqlite3
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig, DBOSPortableJSONSerializer, Queue
from sqlalchemy import event

from tether.durable import dequeue
from tether.durable.fold import Folds, install
from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether.agent.context import RunContext
    from tether.runtime import Runtime
    from tether.settings import Settings

log = logging.getLogger("tether.durable")

QUEUE = "tether-runs"
LEASE_S = 15.0
EXIT_LEASE_LOST = 75  # EX_TEMPFAIL: restart the process (same executor id) and it recovers
APP_NAME = "tether"


@dataclass(kw_only=True)
class Process:
    """What this process's DBOS executes with."""

    runtime: Runtime
    executor_id: str
    kind: str
    lease_s: float
    live: dict[str, RunContext] = field(default_factory=dict)
    teams: dict[str, Any] = field(default_factory=dict)  # run id -> TeamRun (tether.team)
    roles: dict[tuple[str, int], RunContext] = field(default_factory=dict)  # (run, turn)
    stop: threading.Event = field(default_factory=threading.Event)
    heartbeat: threading.Thread | None = None
    folds: Folds | None = None  # steps' journal events, committed with DBOS's step records
    wake: dequeue.Wakeable = field(default_factory=dequeue.Wakeable)  # the queue loop's stop


_PROCESS: list[Process] = []  # at most one: the DBOS singleton's companion


def folded() -> AbstractContextManager[None]:
    """Around a DBOS step's body: its journal events commit with DBOS's step record."""
    folds = current().folds
    return nullcontext() if folds is None else folds.step()


def unfold(workflow: str | None) -> None:
    """Forget what the steps of a finished workflow staged (one that failed mid-step)."""
    folds = current().folds
    if folds is not None and workflow is not None:
        folds.drop(workflow)


def current() -> Process:
    if not _PROCESS:
        raise ConfigError("durable execution is not launched in this process")
    return _PROCESS[0]


def system_url(db_url: str) -> str:
    """DBOS's system database URL: the same database, with an absolute SQLite path."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix):
        return prefix + str(Path(db_url.removeprefix(prefix)).resolve())
    if db_url.startswith("postgresql+psycopg://"):
        return "postgresql://" + db_url.removeprefix("postgresql+psycopg://")
    return db_url


def default_executor_id(kind: str) -> str:
    """A fresh id for a one-shot process; workers pass a stable one (``--executor-id``)."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def app_version() -> str:
    from tether.runtime import tether_version

    return f"tether-{tether_version()}"


def _sqlite_synchronous_normal(dbapi_conn: object, _record: object) -> None:
    """DBOS's own SQLite connections get what tether's have: ``synchronous=NORMAL``, which in
    WAL mode is durable across process crashes (measured: 2.1 → 1.8 ms per DBOS step)."""
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")


def _tune_sqlite(url: str) -> None:
    if url.startswith("sqlite") and not event.contains(
        sa.Engine, "connect", _sqlite_synchronous_normal
    ):
        event.listen(sa.Engine, "connect", _sqlite_synchronous_normal)


def launch(
    runtime: Runtime,
    *,
    executor_id: str,
    kind: str,
    lease_s: float = LEASE_S,
    queue: bool = False,
) -> Process:
    """Take the executor lease, launch DBOS (recovering this executor's own pending runs) and
    start the heartbeat. One per process. ``queue``: also dequeue runs (workers; call it from
    synchronous code)."""
    if _PROCESS:
        raise ConfigError("durable execution is already launched in this process")
    from tether.durable import team, workflows  # noqa: F401 - registers workflows and steps

    runtime.store.executors.register(executor_id, kind, lease_s)
    _tune_sqlite(runtime.settings.db_url)
    settings = runtime.settings
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": system_url(settings.db_url),
        "executor_id": executor_id,
        "application_version": app_version(),
        "log_level": "WARNING",
        "serializer": DBOSPortableJSONSerializer(),
    }
    if settings.db_url.startswith("sqlite"):
        # a local file: no server that could drop a pooled connection, so no ping per checkout
        config["db_engine_kwargs"] = {"pool_pre_ping": False}
    else:
        config["sys_db_pool_size"] = settings.dbos_pool_size  # DBOS's default is 20
    process = Process(runtime=runtime, executor_id=executor_id, kind=kind, lease_s=lease_s)
    _PROCESS.append(process)
    try:
        dbos = DBOS(config=config)
        dequeue.listen_to_none()  # only a worker's own loop below claims queued runs
        if queue:
            dequeue.install(dbos, QUEUE, settings.worker_concurrency, process.wake)
        DBOS.launch()
        # from here on, steps commit their journal events with DBOS's step records (a run
        # recovered by the launch may take a step or two before: those commit on their own)
        process.folds = Folds(journal=runtime.store.journal)
        install(process.folds, dbos._sys_db)
        if queue:
            dequeue.start(dbos, register_queue(settings), process.wake)
    except BaseException:
        _PROCESS.clear()
        raise
    process.heartbeat = threading.Thread(
        target=_beat, args=(process,), name="tether-heartbeat", daemon=True
    )
    process.heartbeat.start()
    return process


def register_queue(settings: Settings) -> Queue:
    """The workers' queue: ``worker_concurrency`` runs per worker, ``global_concurrency`` in
    all (the queue's row in DBOS's tables; the last worker to start sets it)."""
    global_limit = settings.global_concurrency
    per_worker = settings.worker_concurrency
    if global_limit is not None and per_worker > global_limit:
        raise ConfigError(
            f"TETHER_WORKER_CONCURRENCY={per_worker} exceeds TETHER_GLOBAL_CONCURRENCY="
            f"{global_limit}; lower the worker's concurrency or raise the global limit"
        )
    return DBOS.register_queue(
        QUEUE,
        worker_concurrency=per_worker,
        global_concurrency=global_limit,
        polling_interval_sec=settings.queue_poll_s,
        on_conflict="always_update",
    )


def lease_lapsed(last_renewed: float, now: float, lease_s: float) -> bool:
    """Whether a lease last renewed at ``last_renewed`` (monotonic seconds) may have expired,
    so that another process may already have adopted this executor's runs."""
    return now - last_renewed >= lease_s


def _beat(process: Process) -> None:
    """Renew the lease every third of its length. A process that could not renew it in time
    (the database was unreachable, or this process was starved) stops at once: another worker
    may have adopted its runs, and executing them here too would run their steps twice."""
    store = process.runtime.store.executors
    renewed = time.monotonic()
    while not process.stop.wait(process.lease_s / 3):
        if lease_lapsed(renewed, time.monotonic(), process.lease_s):
            _lost_lease(process)
        try:
            store.heartbeat(process.executor_id, process.lease_s, process.kind)
            renewed = time.monotonic()
        except Exception:  # a missed beat is retried; the lease is long enough
            log.warning("heartbeat of executor %s failed", process.executor_id, exc_info=True)


def _lost_lease(process: Process) -> None:
    message = (
        f"executor {process.executor_id!r} could not renew its lease within "
        f"{process.lease_s:g} s (TETHER_LEASE_S); stopping this process so that no run is "
        "executed twice; restart it with the same executor id to recover its runs"
    )
    log.error("%s", message)
    print(f"error: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_LEASE_LOST)


def shutdown(*, wait_s: int = 0, release: bool = True) -> None:
    """Destroy DBOS (waiting up to ``wait_s`` for running workflows), stop the heartbeat and
    give the lease back. With ``wait_s`` the heartbeat goes on while the workflows finish: a
    drain longer than the lease must not let another worker adopt runs this process is still
    executing. Without, it stops first (nothing runs on that another process could take)."""
    if not _PROCESS:
        return
    process = _PROCESS[0]
    process.wake.set()  # claim no more runs
    if wait_s <= 0:
        _stop_heartbeat(process)
    try:
        DBOS.destroy(workflow_completion_timeout_sec=wait_s)
    finally:
        _stop_heartbeat(process)
        _restore_default_executor()
        if release:
            process.runtime.store.executors.stop(process.executor_id)
        _PROCESS.clear()


def _stop_heartbeat(process: Process) -> None:
    process.stop.set()
    if process.heartbeat is not None:
        process.heartbeat.join(timeout=5)


def _restore_default_executor() -> None:
    """DBOS makes its own thread pool the event loop's default executor and shuts it down on
    destroy; give the loop a fresh one so ``asyncio.to_thread`` keeps working afterwards."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="tether"))
