"""A model that asks for several calls in one step, and tools for them, for durable runs in
worker processes: two reads that must overlap (a barrier) and a write with a batch form that
can SIGKILL its process after its effects (``TETHER_TEST_KILL=batch``).

The write tools declare ``sink=False``: their arguments are test counters, not data leaving
the run, so the injection pack (tether/governance/taint.py) does not hold them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from tests.durable_models import _effect, _log, _maybe_die
from tether import ToolContext, tool
from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage

_met = threading.Barrier(2, timeout=20)


@tool
def probe(n: int) -> str:
    """Wait for the other probe (passes only when both run at once).

    Args:
        n: which probe
    """
    _met.wait()
    return f"probe {n} met its peer"


def _pay_many(arguments: list[dict[str, Any]], contexts: list[ToolContext]) -> list[Any]:
    _log("TETHER_TEST_CALLS", f"batch {len(arguments)}")
    dedupe = os.environ.get("TETHER_TEST_DEDUPE") == "1"
    out = [
        _effect(a["n"], c.idempotency_key, dedupe=dedupe)
        for a, c in zip(arguments, contexts, strict=True)
    ]
    _maybe_die("batch")
    return out


@tool(side_effect="write", batch=_pay_many, sink=False)
def pay_many(ctx: ToolContext, n: int) -> dict[str, object]:
    """Pay for item n (its batch form pays for several in one request).

    Args:
        n: the item
    """
    raise AssertionError("the batch form is used for several calls")


@tool(side_effect="write", idempotent=True, batch=_pay_many, sink=False)
def pay_many_keyed(ctx: ToolContext, n: int) -> dict[str, object]:
    """Pay for item n, idempotent by key (its batch form pays for several at once).

    Args:
        n: the item
    """
    raise AssertionError("the batch form is used for several calls")


class ParallelModel:
    id = "python:tests.durable_parallel:model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        usage = Usage(input_tokens=10, output_tokens=5)
        if any(isinstance(m, ToolResultMessage) for m in request.messages):
            return ModelResponse(text="paid", usage=usage, model=self.id)
        pay = os.environ.get("TETHER_TEST_TOOL", "pay_many")
        calls = [ToolCall(id=f"p{n}", name="probe", arguments={"n": n}) for n in range(2)]
        calls += [ToolCall(id=f"w{n}", name=pay, arguments={"n": n}) for n in range(3)]
        return ModelResponse(tool_calls=tuple(calls), usage=usage, model=self.id)


def model() -> ParallelModel:
    return ParallelModel()


class McpModel:
    """Calls two tools of an MCP server (one per step), then answers; can die between them."""

    id = "python:tests.durable_parallel:mcp_model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if isinstance(m, ToolResultMessage))
        _maybe_die(f"mcp-model:{done}")
        usage = Usage(input_tokens=10, output_tokens=5)
        if done == 0:
            call = ToolCall(id="t0", name="get_current_time", arguments={"timezone": "UTC"})
        elif done == 1:
            arguments = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "UTC"}
            call = ToolCall(id="t1", name="convert_time", arguments=arguments)
        else:
            return ModelResponse(text="converted", usage=usage, model=self.id)
        return ModelResponse(tool_calls=(call,), usage=usage, model=self.id)


def mcp_model() -> McpModel:
    return McpModel()
