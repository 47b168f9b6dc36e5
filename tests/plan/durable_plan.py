"""A planner model and tools a `tether` process can import, for the durable plan-mode test.

The model writes one plan: two reads in parallel, then a write fed by both through $refs. The
write SIGKILLs its process once (TETHER_TEST_KILL=store) before its effect, so a resumed run
must finish the plan without asking for it again or repeating a read.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tether import ToolContext, tool
from tether.types import ModelRequest, ModelResponse, Usage

PLAN = {
    "steps": [
        {"id": "a", "tool": "fetch_a", "args": {"key": "x"}},
        {"id": "b", "tool": "fetch_b", "args": {"key": "y"}},
        {"id": "c", "tool": "store", "args": {"value": "$a.value+$b.value"}, "depends_on": []},
    ],
    "answer": "stored $c.stored",
    "confidence": 0.9,
}


def _log(line: str) -> None:
    with Path(os.environ["TETHER_TEST_CALLS"]).open("a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


class PlanModel:
    id = "python:tests.plan.durable_plan:model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        _log("model")
        return ModelResponse(
            text=json.dumps(PLAN), usage=Usage(input_tokens=10, output_tokens=20), model=self.id
        )


def model() -> PlanModel:
    return PlanModel()


@tool(side_effect="read")
def fetch_a(key: str) -> dict[str, str]:
    """Fetch a value from A.

    Args:
        key: the key
    """
    _log(f"fetch_a {key}")
    return {"value": key.upper()}


@tool(side_effect="read")
def fetch_b(key: str) -> dict[str, str]:
    """Fetch a value from B.

    Args:
        key: the key
    """
    _log(f"fetch_b {key}")
    return {"value": key * 2}


@tool(side_effect="write", idempotent=True, sink=False)  # a local file, no data leaves
def store(ctx: ToolContext, value: str) -> dict[str, str]:
    """Store a value, once per idempotency key.

    Args:
        value: what to store
    """
    marker = Path(os.environ["TETHER_TEST_MARKER"])
    if os.environ.get("TETHER_TEST_KILL") == "store" and not marker.exists():
        marker.write_text("store")
        os.kill(os.getpid(), signal.SIGKILL)
    effects = Path(os.environ["TETHER_TEST_EFFECTS"])
    done = effects.read_text().splitlines() if effects.exists() else []
    if not any(line.startswith(ctx.idempotency_key) for line in done):
        with effects.open("a") as f:
            f.write(f"{ctx.idempotency_key} {value}\n")
    return {"stored": value}
