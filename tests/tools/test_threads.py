"""Daemon threads for sync tools: reused when idle, a blocked call never blocks another,
idle threads leave."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tether.tools.threads import DaemonThreads


def _run(threads: DaemonThreads, fn: Callable[[], object]) -> threading.Event:
    done = threading.Event()

    def job() -> None:
        fn()
        done.set()

    threads.submit(job, "probe")
    return done


def _wait_idle(threads: DaemonThreads, count: int) -> None:
    deadline = time.monotonic() + 10
    while threads.idle != count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads.idle == count


def test_an_idle_thread_takes_the_next_job() -> None:
    threads = DaemonThreads()
    seen: list[tuple[int, str]] = []

    def note() -> None:
        seen.append((threading.get_ident(), threading.current_thread().name))

    for _ in range(5):
        assert _run(threads, note).wait(10)
        _wait_idle(threads, 1)
    assert len({ident for ident, _ in seen}) == 1
    assert {name for _, name in seen} == {"tether-tool-probe"}
    assert any(t.name == "tether-tool-idle" for t in threading.enumerate())


def test_a_blocked_job_does_not_hold_up_the_next() -> None:
    threads = DaemonThreads()
    release = threading.Event()
    blocked = _run(threads, lambda: release.wait(10))
    assert _run(threads, lambda: None).wait(10)  # ran on a second thread
    assert not blocked.is_set()
    release.set()
    assert blocked.wait(10)
    _wait_idle(threads, 2)
    assert _run(threads, lambda: None).wait(10)
    _wait_idle(threads, 2)


def test_idle_threads_leave_after_idle_s() -> None:
    threads = DaemonThreads(idle_s=0.05)
    for done in [_run(threads, lambda: time.sleep(0.1)) for _ in range(3)]:
        assert done.wait(10)
    _wait_idle(threads, 0)
    assert _run(threads, lambda: None).wait(10)  # a new thread starts for a new job
