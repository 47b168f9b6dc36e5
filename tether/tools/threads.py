"""Reusable daemon threads for sync tool functions.

A sync tool runs off the event loop in a daemon thread, so that a call abandoned on timeout
never blocks event-loop or interpreter shutdown (a ``ThreadPoolExecutor`` joins its threads at
exit). Starting a thread per call costs 0.3-1 ms on a loaded machine (measured on the 2-core
benchmark VM), more than a whole agent step should; these threads are reused instead. An idle
thread waits for the next call for ``idle_s`` seconds, then exits; a call that is still running
(abandoned or not) keeps its thread, and new calls get another one. A thread is named after the
tool it runs (``tether-tool-NAME``), ``tether-tool-idle`` between calls.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable

IDLE_S = 10.0

Job = Callable[[], None]
IDLE_NAME = "tether-tool-idle"


class DaemonThreads:
    """Runs jobs on daemon threads, starting one only when none is idle."""

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self._idle_s = idle_s
        self._jobs: queue.SimpleQueue[tuple[Job, str]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job that no submitted job has claimed yet

    def submit(self, job: Job, name: str) -> None:
        """Run ``job`` (tool ``name``'s call) on an idle thread, or on a new one. ``job`` must
        not raise."""
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1  # this job is that thread's
        context = contextvars.copy_context()  # the caller's (the run id of its log lines)
        self._jobs.put((lambda: context.run(job), name))
        if start:
            threading.Thread(target=self._work, name=IDLE_NAME, daemon=True).start()

    @property
    def idle(self) -> int:
        with self._lock:
            return self._idle

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            try:
                job, name = self._jobs.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # nobody claimed a waiting thread: one may leave
                        self._idle -= 1
                        return
                continue  # a job was claimed and is on its way: stay for it
            me.name = f"tether-tool-{name}"
            job()
            me.name = IDLE_NAME
            with self._lock:
                self._idle += 1
