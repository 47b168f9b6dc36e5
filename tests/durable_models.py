"""A deterministic model and a side-effecting tool that worker processes can import.

The model calls ``bump(n=k)`` at step k for k < TETHER_TEST_STEPS, then answers. It decides from
the conversation alone, so any process that resumes a run makes the same choices. Both append
to files so tests can count what ran; both can SIGKILL their own process once, at a chosen
step, to simulate a crash between steps.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tether import tool
from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage


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


class CountingModel:
    id = "python:tests.durable_models:model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if isinstance(m, ToolResultMessage))
        _log("TETHER_TEST_CALLS", f"model {done}")
        _maybe_die(f"model:{done}")
        delay = float(os.environ.get("TETHER_TEST_DELAY", "0"))
        if delay:
            await asyncio.sleep(delay)
        steps = int(os.environ.get("TETHER_TEST_STEPS", "4"))
        usage = Usage(input_tokens=10, output_tokens=5)
        if done < steps:
            call = ToolCall(id=f"call_{done}", name="bump", arguments={"n": done})
            return ModelResponse(tool_calls=(call,), usage=usage, model=self.id)
        return ModelResponse(text=f"bumped {steps} times", usage=usage, model=self.id)


def model() -> CountingModel:
    return CountingModel()


@tool(side_effect="write", idempotent=False)
def bump(n: int) -> dict[str, object]:
    """Record that step n happened (a side effect the tests count).

    Args:
        n: the step number
    """
    _maybe_die(f"tool:{n}")
    _log("TETHER_TEST_EFFECTS", str(n))
    secret = os.environ.get("TETHER_TEST_PLANT", "")
    return {"n": n, "note": secret} if secret else {"n": n}
