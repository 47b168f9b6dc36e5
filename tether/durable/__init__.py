"""Durable execution on DBOS: the only package that imports ``dbos`` (DESIGN §2.2).

A run is a chain of segments; each segment is a DBOS workflow (``run_xxx:seg0``) whose steps
are the loop's model calls, tool calls and finish. Processes that execute runs launch DBOS with
an executor id and hold a lease in ``tether_executors``; the others steer runs through the
functions in ``control``.
"""

from tether.durable.control import (
    adopt_expired,
    cancel_run,
    enqueue_resume,
    enqueue_run,
    enqueue_runs,
    fork_run,
    pause_run,
    prepare_enqueue,
    resume_run,
    run_segment,
    workflow_id,
)
from tether.durable.engine import default_executor_id, launch, shutdown
from tether.durable.worker import serve_worker

__all__ = [
    "adopt_expired",
    "cancel_run",
    "default_executor_id",
    "enqueue_resume",
    "enqueue_run",
    "enqueue_runs",
    "fork_run",
    "launch",
    "pause_run",
    "prepare_enqueue",
    "resume_run",
    "run_segment",
    "serve_worker",
    "shutdown",
    "workflow_id",
]
