"""The workers' queue loop (tether/durable/dequeue.py): woken when a run ends, quiet while the
worker is full, and the only thing in any process that claims queued runs."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.test_durable import AGENT, Env
from tether.durable.dequeue import Wakeable


def _timed_wait(event: Wakeable, timeout: float) -> tuple[bool, float]:
    start = time.monotonic()
    return event.wait(timeout), time.monotonic() - start


def _later(seconds: float, action: object) -> threading.Timer:
    timer = threading.Timer(seconds, action)  # type: ignore[arg-type]
    timer.start()
    return timer


def test_a_wake_ends_the_wait_early_and_leaves_the_event_unset() -> None:
    event = Wakeable()
    _later(0.05, event.wake)
    stopped, took = _timed_wait(event, 10)
    assert not stopped and took < 5
    assert not event.is_set()


def test_without_a_wake_the_wait_times_out_and_a_stop_ends_it() -> None:
    event = Wakeable()
    stopped, took = _timed_wait(event, 0.05)
    assert not stopped and took >= 0.04
    _later(0.05, event.set)
    stopped, took = _timed_wait(event, 10)
    assert stopped and took < 5
    assert event.wait(10) is True  # set stays set: the loop returns at once


def test_a_wake_while_nobody_waits_is_kept_once() -> None:
    event = Wakeable()
    event.wake()
    event.wake()
    assert _timed_wait(event, 10)[1] < 1  # the kept wake
    assert _timed_wait(event, 0.05)[1] >= 0.04  # only one was kept


def test_a_full_worker_does_not_poll_until_a_slot_frees() -> None:
    full = [True]
    event = Wakeable(full=lambda: full[0])
    event.FULL_WAIT_S = 0.3
    stopped, took = _timed_wait(event, 0.01)  # the poll interval is ignored while full
    assert not stopped and took >= 0.25
    _later(0.05, event.wake)
    assert _timed_wait(event, 0.01)[1] < 0.25  # a run ended: poll at once
    full[0] = False
    assert _timed_wait(event, 0.01)[1] < 0.25  # room: back to the poll interval


def test_only_workers_claim_queued_runs(tmp_path: Path) -> None:
    """Runs waiting on the queue (registered by a worker that has stopped) stay there while a
    `tether run` process, which launches DBOS too, executes its own run; a worker then
    executes them."""
    env = Env(tmp_path)
    first = env.spawn("worker", "--grace", "5", TETHER_EXECUTOR_ID="w-first")
    deadline = time.monotonic() + 120
    while "ready" not in env.output(first) and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)  # it leaves the queue's row, as any worker does
    first.wait(timeout=60)
    made = subprocess.run(
        [sys.executable, "-m", "tests.enqueue_runs", AGENT, "2", "queued"],
        capture_output=True,
        text=True,
        env=env.vars,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    queued = made.stdout.split()
    assert len(queued) == 2
    own = env.tether(
        "run", "--agent", AGENT, "bump", TETHER_QUEUE_POLL_S="0.05", TETHER_TEST_DELAY="0.8"
    )
    assert own.returncode == 0, own.stderr[-2000:]
    for run_id in queued:
        shown = env.tether("runs", "show", run_id, "--json")
        assert '"status": "queued"' in shown.stdout, shown.stdout
    worker = env.spawn("worker", "--grace", "5", TETHER_EXECUTOR_ID="w-dequeue")
    try:
        for run_id in queued:
            assert env.wait_status(run_id, timeout=120) == "succeeded"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, env.output(worker)
