"""A deterministic model and a side-effecting tool that worker processes can import.

The model calls ``bump(n=k)`` at step k for k < TETHER_TEST_STEPS, then answers. It decides from
the conversation alone, so any process that resumes a run makes the same choices. Both append
to files so tests can count what ran; both can SIGKILL their own process once, at a chosen
step, to simulate a crash between steps, or inside the commit of a step's outcome.

The write tools declare ``sink=False``: their arguments are test counters, not data leaving
the run, so the injection pack (tether/governance/taint.py) does not hold them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tether import ToolContext, tool
from tether.types import (
    ModelRequest,
    ModelResponse,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)


def _log(var: str, line: str) -> None:
    path = os.environ.get(var)
    if path:
        with Path(path).open("a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def _maybe_die(point: str) -> None:
    """SIGKILL this process once when TETHER_TEST_KILL names ``point``."""
    marker = os.environ.get("TETHER_TEST_MARKER", "")
    if os.environ.get("TETHER_TEST_KILL") == point and marker and not Path(marker).exists():
        Path(marker).write_text(point)
        os.kill(os.getpid(), signal.SIGKILL)


def _die_at_commit(point: str, kind: str, step: int) -> None:
    """With TETHER_TEST_KILL=``point``: SIGKILL this process inside the transaction that
    would commit the ``kind`` event of ``step`` together with DBOS's record of its step
    (``tether.durable.fold``), before that transaction commits."""
    if os.environ.get("TETHER_TEST_KILL") != point:
        return
    from tether.store.journal import Journal

    original = Journal.write

    def write(self: Journal, conn: Any, batches: Any) -> None:
        if any(e.kind == kind and e.key.step == step for b in batches for e in b.events):
            _maybe_die(point)
        original(self, conn, batches)

    Journal.write = write  # type: ignore[method-assign]


def _log_model_call(request: ModelRequest, step: int) -> None:
    """With TETHER_TEST_EFFECTS_DB: one row per model call (goal, step, executor, time)."""
    url = os.environ.get("TETHER_TEST_EFFECTS_DB")
    if not url:
        return
    import psycopg

    goal = next((m.content for m in request.messages if isinstance(m, UserMessage)), "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO test_model_calls (goal, step, executor, at) VALUES (%s, %s, %s, %s)",
            (goal, step, os.environ.get("TETHER_EXECUTOR_ID", ""), datetime.now(UTC)),
        )


def _hold(done: int) -> None:
    """With TETHER_TEST_HOLD (a path): the model call for step 1 waits until that file exists.

    A test that steers a run in flight (pause, kill) acts while the run is held at a known
    step, then creates the file; on a loaded machine the run cannot finish first.
    """
    gate = os.environ.get("TETHER_TEST_HOLD")
    if not gate or done != 1:
        return
    deadline = time.monotonic() + 120
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


class CountingModel:
    id = "python:tests.durable_models:model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if isinstance(m, ToolResultMessage))
        _log("TETHER_TEST_CALLS", f"model {done}")
        _log_model_call(request, done)
        _maybe_die(f"model:{done}")
        _die_at_commit(f"commit:{done}", "model_response", done)
        await asyncio.to_thread(_hold, done)
        delay = float(os.environ.get("TETHER_TEST_DELAY", "0"))
        if delay:
            await asyncio.sleep(delay)
        steps = int(os.environ.get("TETHER_TEST_STEPS", "4"))
        usage = Usage(input_tokens=10, output_tokens=5)
        if done < steps:
            tool_name = os.environ.get("TETHER_TEST_TOOL", "bump")
            call = ToolCall(id=f"call_{done}", name=tool_name, arguments={"n": done})
            return ModelResponse(tool_calls=(call,), usage=usage, model=self.id)
        return ModelResponse(text=f"bumped {steps} times", usage=usage, model=self.id)


def _die_before_the_outcome() -> None:
    """With TETHER_TEST_KILL=outcome: SIGKILL this process when DBOS is about to mark a
    segment's workflow succeeded, after its last (finish) step was recorded."""
    from dbos._sys_db import SystemDatabase

    original = SystemDatabase.update_workflow_outcome

    def update(self: SystemDatabase, workflow_id: str, status: Any, **kw: Any) -> bool:
        if status == "SUCCESS":
            _maybe_die("outcome")
        return original(self, workflow_id, status, **kw)

    SystemDatabase.update_workflow_outcome = update  # type: ignore[method-assign]


def model() -> CountingModel:
    if os.environ.get("TETHER_TEST_KILL") == "outcome":
        _die_before_the_outcome()
    return CountingModel()


def _effect(n: int, key: str, *, dedupe: bool) -> dict[str, object]:
    """The side effect: one line per effect in TETHER_TEST_EFFECTS, keys in a keys file."""
    keys_path = Path(os.environ["TETHER_TEST_EFFECTS"] + ".keys")
    done = keys_path.read_text().split() if keys_path.exists() else []
    _maybe_die(f"tool:{n}")  # before the effect (intent journaled, nothing happened)
    if not (dedupe and key in done):
        _log("TETHER_TEST_EFFECTS", str(n))
        with keys_path.open("a") as f:
            f.write(key + "\n")
    _maybe_die(f"after:{n}")  # after the effect, before tether records the outcome
    _die_at_commit(f"toolcommit:{n}", "tool_call_finished", n)  # in the outcome's commit
    secret = os.environ.get("TETHER_TEST_PLANT", "")
    return {"n": n, "note": secret} if secret else {"n": n}


@tool(side_effect="write", idempotent=True, sink=False)  # a local counter, no data leaves
def bump(ctx: ToolContext, n: int) -> dict[str, object]:
    """Record that step n happened; idempotent by key, like a payment API with idempotency keys.

    Args:
        n: the step number
    """
    return _effect(n, ctx.idempotency_key, dedupe=True)


@tool(side_effect="write", sink=False)
def pay(ctx: ToolContext, n: int) -> dict[str, object]:
    """Pay for step n: not idempotent, no way to check afterwards.

    Args:
        n: the step number
    """
    return _effect(n, ctx.idempotency_key, dedupe=False)


def _already_paid(ctx: ToolContext) -> dict[str, object] | None:
    keys_path = Path(os.environ["TETHER_TEST_EFFECTS"] + ".keys")
    paid = keys_path.exists() and ctx.idempotency_key in keys_path.read_text().split()
    return {"reconciled": True} if paid else None


@tool(side_effect="write", reconcile=_already_paid, sink=False)
def pay_checked(ctx: ToolContext, n: int) -> dict[str, object]:
    """Pay for step n: not idempotent, but the ledger can say whether a key was paid.

    Args:
        n: the step number
    """
    return _effect(n, ctx.idempotency_key, dedupe=False)


@tool(side_effect="write", idempotent=True, sink=False)
def record(ctx: ToolContext, n: int) -> dict[str, object]:
    """Record step n in the effects database (TETHER_TEST_EFFECTS_DB), once per key.

    Every attempt is logged with the executor and when this process made it (its own clock:
    a loaded server may execute a dead process's last statement later); the effect itself is
    an insert keyed by the idempotency key, like a payment API that dedupes on its key.

    Args:
        n: the step number
    """
    import psycopg

    executor = os.environ.get("TETHER_EXECUTOR_ID", "")
    with psycopg.connect(os.environ["TETHER_TEST_EFFECTS_DB"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO test_attempts (run_id, n, key, executor, at) VALUES (%s, %s, %s, %s, %s)",
            (ctx.run_id, n, ctx.idempotency_key, executor, datetime.now(UTC)),
        )
        conn.execute(
            "INSERT INTO test_effects (key, run_id, n, executor) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (key) DO NOTHING",
            (ctx.idempotency_key, ctx.run_id, n, executor),
        )
    return {"n": n}
