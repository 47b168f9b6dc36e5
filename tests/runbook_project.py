"""The model and tools of the runbook's test project (tests/test_runbook.py).

``model`` calls the tools named in TETHER_TEST_TOOLS (comma-separated) one per step, with
``n`` = the step, then answers. It decides from the conversation alone, so a process that
resumes a run makes the same choices. With TETHER_TEST_HOLD (a path) its call for step
TETHER_TEST_HOLD_AT (default 1) waits until that file exists, so a test acts on a run in flight
at a known step without racing it.

The tools append to TETHER_TEST_LEDGER, one line per effect, so a test can count what ran:
``book`` (a write with a compensate action, idempotent by key), ``announce`` (a write that
cannot be undone) and ``crm_lookup`` (a read that uses the secret ``crm_read``; it logs a
fingerprint of the value it saw, never the value).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from tether import ToolContext, tool
from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage


def _ledger(line: str) -> None:
    with Path(os.environ["TETHER_TEST_LEDGER"]).open("a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _booked_keys() -> set[str]:
    path = Path(os.environ["TETHER_TEST_LEDGER"])
    lines = path.read_text().splitlines() if path.exists() else []
    return {line.split()[-1] for line in lines if line.startswith("book ")}


def _hold(done: int) -> None:
    gate = os.environ.get("TETHER_TEST_HOLD")
    if not gate or done != int(os.environ.get("TETHER_TEST_HOLD_AT", "1")):
        return
    deadline = time.monotonic() + 600  # a bound for a test that failed to open it
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


class ToolsInTurn:
    id = "python:tests.runbook_project:model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if isinstance(m, ToolResultMessage))
        await asyncio.to_thread(_hold, done)
        tools = [t for t in os.environ.get("TETHER_TEST_TOOLS", "book").split(",") if t]
        usage = Usage(input_tokens=10, output_tokens=5)
        if done < len(tools):
            call = ToolCall(id=f"call_{done}", name=tools[done], arguments={"n": done})
            return ModelResponse(tool_calls=(call,), usage=usage, model=self.id)
        return ModelResponse(text=f"done after {done} calls", usage=usage, model=self.id)


def model() -> ToolsInTurn:
    return ToolsInTurn()


def _unbook(ctx: ToolContext, arguments: dict[str, Any], result: Any) -> dict[str, Any]:
    _ledger(f"unbook {arguments['n']} {ctx.idempotency_key}")
    return {"unbooked": arguments["n"]}


@tool(side_effect="write", idempotent=True, compensate=_unbook, sink=False)
def book(ctx: ToolContext, n: int) -> dict[str, Any]:
    """Book seat n (once per idempotency key, like an API that dedupes on its key).

    Args:
        n: the seat
    """
    if ctx.idempotency_key not in _booked_keys():
        _ledger(f"book {n} {ctx.idempotency_key}")
    return {"booked": n}


@tool(side_effect="write", sink=False)
def announce(ctx: ToolContext, n: int) -> str:
    """Announce seat n to the customer (cannot be taken back).

    Args:
        n: the seat
    """
    _ledger(f"announce {n}")
    return "announced"


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@tool(secrets=("crm_read",))
def crm_lookup(ctx: ToolContext, n: int) -> dict[str, Any]:
    """Look up customer n in the CRM with the read credential.

    Args:
        n: the customer
    """
    _ledger(f"crm {n} {fingerprint(ctx.secrets['crm_read'])} pid {os.getpid()}")
    return {"customer": n}
