"""Dequeueing the workers' queue: DBOS's queue loop, woken as soon as a run ends here.

DBOS dequeues a queue from a thread per queue that sleeps ``polling_interval_sec`` between
polls, and every process that launches DBOS runs one for every queue in the system database.
Tether changes two things, through DBOS's own pieces (pinned ``dbos==3.4.0``):

- only workers dequeue runs: :func:`listen_to_none` is called before every launch (a
  ``tether run`` or a control command launches DBOS too, and must not claim the service's
  queued runs), and a worker starts :func:`start` for the runs queue itself;
- the worker's loop is DBOS's ``queue_worker_thread`` with a :class:`Wakeable` stop event, which
  a run ending in this process wakes early (:class:`WakingActiveSet`): the next queued run
  starts when a slot frees, not up to a poll interval later, and a worker with no free slot
  does not poll. Polls still find runs that arrive while the worker has room.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dbos import DBOS
from dbos._core import ActiveWorkflowById
from dbos._queue import queue_worker_thread


class Wakeable(threading.Event):
    """A stop event whose ``wait`` also returns early, still unset, after :meth:`wake`.

    A wake that comes while nobody waits is kept (one), so a run that ends while the loop is
    dequeueing makes it poll again at once rather than after a full interval. While ``full()``
    says this worker has no free slot, ``wait`` does not poll at all (a poll could claim
    nothing): it waits for a wake, or ``FULL_WAIT_S`` at most, so that queue settings changed
    in the database are still read."""

    FULL_WAIT_S = 1.0

    def __init__(self, full: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.full = full
        self._wake = threading.Condition(threading.Lock())
        self._woken = False

    def wake(self) -> None:
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    def set(self) -> None:
        super().set()
        self.wake()

    def wait(self, timeout: float | None = None) -> bool:
        with self._wake:
            if not self._woken and not self.is_set():
                full = self.full is not None and self.full()
                self._wake.wait(max(timeout or 0.0, self.FULL_WAIT_S) if full else timeout)
            self._woken = False
        return self.is_set()


class WakingActiveSet(ActiveWorkflowById):
    """DBOS's set of executions running here; releasing one of ``queue``'s wakes ``event``."""

    def __init__(self, queue: str, event: Wakeable) -> None:
        super().__init__()
        self.queue = queue
        self.event = event

    def _remove(self, key: str, bucket: Any) -> None:
        super()._remove(key, bucket)
        if bucket is not None and bucket[0] == self.queue:
            self.event.wake()


def listen_to_none() -> None:
    """Before ``DBOS.launch``: DBOS's own queue thread serves only its internal queues."""
    DBOS.listen_queues([])


def install(dbos: DBOS, queue: str, slots: int, event: Wakeable) -> None:
    """Before ``DBOS.launch`` (which recovers runs into the set): runs of ``queue`` that end
    here wake ``event``, which waits without polling while ``slots`` of them run here."""
    active = WakingActiveSet(queue, event)
    dbos._active_workflows_set = active
    event.full = lambda: active.count_for_queue(queue) >= slots


def start(dbos: DBOS, queue: Any, event: Wakeable) -> threading.Thread:
    """DBOS's loop over ``queue`` (a registered :class:`dbos.Queue`) until ``event`` is set."""
    thread = threading.Thread(
        target=queue_worker_thread,
        args=(event, dbos, queue),
        name=f"tether-dequeue-{queue.name}",
        daemon=True,
    )
    thread.start()
    return thread
