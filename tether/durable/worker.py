"""``tether worker``: execute queued runs until told to stop.

On start DBOS recovers the runs this executor id left unfinished (a restarted worker keeps its
id) and the worker registers the cron schedules of the agents in its agents folder
(``schedules``). With ``adopt`` the worker also takes over the runs of executors whose lease
expired. Every tick it sweeps approvals: deadlines pass (escalate or deny), and decided runs
whose next segment was not queued (the deciding process crashed, or the run was still
recording its pause) are queued. On SIGTERM or SIGINT it stops taking work, waits up to
``grace_s`` for running segments, and gives its lease back so that what is left can be adopted
at once. ``kill -USR1`` makes it print every thread's stack to stderr.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from tether.durable import engine
from tether.durable.control import adopt_expired
from tether.governance.approvals import Approvals

if TYPE_CHECKING:
    from tether.runtime import Runtime

log = logging.getLogger("tether.worker")


def serve_worker(
    runtime: Runtime,
    *,
    executor_id: str,
    adopt: bool = False,
    grace_s: int = 30,
    agents_dir: Path | None = None,
    triggers_file: Path | None = None,
    notifications_file: Path | None = None,
) -> list[str]:
    """Run the worker in this (main) thread until SIGTERM/SIGINT; returns the adopted runs."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # `kill -USR1 PID` prints every thread's stack to stderr: what a stuck worker is doing
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    process = engine.launch(
        runtime,
        executor_id=executor_id,
        kind="worker",
        lease_s=runtime.settings.lease_s,
        queue=True,
    )
    adopted: list[str] = []
    quit_background = threading.Event()
    background: list[threading.Thread] = []
    try:
        if agents_dir is not None and agents_dir.is_dir():
            from tether.durable import schedules

            for name in schedules.apply(agents_dir):
                print(f"schedule {name} registered", flush=True)
        if triggers_file is not None or notifications_file is not None:
            # notifications and event-trigger listeners (tether.service.background)
            from tether.service.background import start_background

            background = start_background(
                runtime,
                owner=executor_id,
                notifications_file=notifications_file or Path("notifications.yaml"),
                triggers_file=triggers_file or Path("triggers.yaml"),
                agents_dir=agents_dir or Path("agents"),
                stop=quit_background,
            )
        print(f"worker {executor_id} ready", flush=True)
        approvals = Approvals(runtime)
        while not stop.wait(min(1.0, process.lease_s / 3)):
            _sweep(approvals)
            if adopt:
                for run_id in adopt_expired(runtime):
                    log.warning("adopted run %s", run_id)
                    print(f"adopted {run_id}", flush=True)
                    adopted.append(run_id)
    finally:
        print(
            f"worker {executor_id} stopping: taking no new runs, finishing running ones "
            f"(up to {grace_s} s)",
            flush=True,
        )
        quit_background.set()
        for thread in background:
            thread.join(timeout=5)
        engine.shutdown(wait_s=grace_s)
    print(f"worker {executor_id} stopped; its lease is released", flush=True)
    return adopted


def _sweep(approvals: Approvals) -> None:
    """Approval deadlines, and decided runs to queue (finishing what a crash interrupted)."""
    try:
        report = approvals.sweep()
    except Exception:  # retried at the next tick
        log.warning("approvals sweep failed", exc_info=True)
        return
    for run_id in report.resumed:
        print(f"resumed {run_id}", flush=True)
