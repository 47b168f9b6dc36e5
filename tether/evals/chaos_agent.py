"""The agent the chaos suite's crash scenarios run in real ``tether`` processes.

The model calls the step tool with ``n = k`` at step k for k < ``TETHER_CHAOS_STEPS``, then
answers; it decides from the conversation alone, so a process that takes the run over makes
the same choices. The tools write their effects to a SQLite file in ``TETHER_CHAOS_DIR``
(``effects``: one row per effect; ``attempts``: one row per execution), and the model and
tools SIGKILL their own process once at the point ``TETHER_CHAOS_KILL`` names
(``model:K``, ``tool:K`` before step K's effect, ``after:K`` after it, before tether records
the outcome). The tools declare ``sink=False``: their arguments are step numbers, no data
leaves the run.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

from tether.tools import ToolContext, tool
from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage

MODEL_ID = "python:tether.evals.chaos_agent:model"


def _folder() -> Path:
    return Path(os.environ["TETHER_CHAOS_DIR"])


def _maybe_die(point: str) -> None:
    marker = _folder() / "killed"
    if os.environ.get("TETHER_CHAOS_KILL") == point and not marker.exists():
        marker.write_text(point)
        os.kill(os.getpid(), signal.SIGKILL)


def effects_db(folder: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(folder / "effects.db", timeout=30)
    conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT, n INTEGER)")
    conn.execute("CREATE TABLE IF NOT EXISTS attempts (key TEXT, n INTEGER)")
    return conn


def _log_call(line: str) -> None:
    with (_folder() / "calls").open("a") as f:
        f.write(line + "\n")


class StepModel:
    id = MODEL_ID

    async def request(self, request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if isinstance(m, ToolResultMessage))
        _log_call(f"model {done}")
        _maybe_die(f"model:{done}")
        usage = Usage(input_tokens=10, output_tokens=5)
        if done < int(os.environ.get("TETHER_CHAOS_STEPS", "4")):
            name = os.environ.get("TETHER_CHAOS_TOOL", "record_step")
            call = ToolCall(id=f"call_{done}", name=name, arguments={"n": done})
            return ModelResponse(tool_calls=(call,), usage=usage, model=self.id)
        return ModelResponse(text=f"recorded {done} steps", usage=usage, model=self.id)


def model() -> StepModel:
    return StepModel()


def _effect(ctx: ToolContext, n: int, *, dedupe: bool) -> dict[str, int]:
    _maybe_die(f"tool:{n}")
    with effects_db(_folder()) as conn:
        conn.execute("INSERT INTO attempts VALUES (?, ?)", (ctx.idempotency_key, n))
        seen = conn.execute("SELECT 1 FROM effects WHERE key = ?", (ctx.idempotency_key,))
        if not (dedupe and seen.fetchone()):
            conn.execute("INSERT INTO effects VALUES (?, ?)", (ctx.idempotency_key, n))
    _maybe_die(f"after:{n}")
    return {"n": n}


@tool(side_effect="write", sink=False)
def record_step(ctx: ToolContext, n: int) -> dict[str, int]:
    """Record step n (not idempotent: every execution is an effect).

    Args:
        n: the step number
    """
    return _effect(ctx, n, dedupe=False)


@tool(side_effect="write", idempotent=True, sink=False)
def charge_step(ctx: ToolContext, n: int) -> dict[str, int]:
    """Charge for step n, once per idempotency key (like a payment API with keys).

    Args:
        n: the step number
    """
    return _effect(ctx, n, dedupe=True)
