"""The scale benchmark's model and tool, importable by worker processes.

The model sleeps ``BENCH_MODEL_SLEEP_S`` (default 0.1 s) per call, like a hosted model's
latency, asks for ``BENCH_STEPS`` echo calls (default 3), then answers. It decides from the
conversation alone, so any worker can resume any run.
"""

from __future__ import annotations

import asyncio
import os

from tether import tool
from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage


class SleepyModel:
    id = "python:bench.scale_models:model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(float(os.environ.get("BENCH_MODEL_SLEEP_S", "0.1")))
        done = sum(1 for m in request.messages if isinstance(m, ToolResultMessage))
        usage = Usage(input_tokens=10, output_tokens=5)
        if done < int(os.environ.get("BENCH_STEPS", "3")):
            call = ToolCall(id=f"call_{done}", name="echo", arguments={"n": done})
            return ModelResponse(tool_calls=(call,), usage=usage, model=self.id)
        return ModelResponse(text="done", usage=usage, model=self.id)


def model() -> SleepyModel:
    return SleepyModel()


@tool
def echo(n: int) -> dict[str, int]:
    """Return the number it is given.

    Args:
        n: any integer
    """
    return {"n": n}
