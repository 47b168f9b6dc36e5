"""Models and tools of the shadow-run tests, importable by `tether` processes.

The tools log to files in ``TETHER_SHADOW_DIR``: ``effects`` (one line per executed refund:
the side effect), ``reads`` (one line per executed lookup). Both models decide from the
conversation: the production model refunds 10, the candidate refunds 100 and looks at the
order's history first (a read the production run never made).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tether.tools import tool
from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage


def _log(name: str, line: str) -> None:
    with (Path(os.environ["TETHER_SHADOW_DIR"]) / name).open("a") as f:
        f.write(line + "\n")


@tool(sink=False)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order.

    Args:
        order_id: the order's id
    """
    _log("reads", f"lookup {order_id}")
    return {"order_id": order_id, "total": 120, "status": "delivered"}


@tool(sink=False)
def order_history(order_id: str) -> dict[str, Any]:
    """The events of an order so far.

    Args:
        order_id: the order's id
    """
    _log("reads", f"history {order_id}")
    return {"order_id": order_id, "events": ["placed", "shipped", "delivered"]}


@tool(side_effect="write", sink=False)
def issue_refund(order_id: str, amount: int) -> dict[str, Any]:
    """Refund part of an order to the customer.

    Args:
        order_id: the order's id
        amount: how much to refund
    """
    _log("effects", f"refund {order_id} {amount}")
    return {"refunded": amount, "order_id": order_id}


class _Scripted:
    def __init__(self, model_id: str, calls: list[ToolCall], answer: str) -> None:
        self.id = model_id
        self._calls = calls
        self._answer = answer

    async def request(self, request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if isinstance(m, ToolResultMessage))
        usage = Usage(input_tokens=10, output_tokens=5)
        if done < len(self._calls):
            return ModelResponse(tool_calls=(self._calls[done],), usage=usage, model=self.id)
        return ModelResponse(text=self._answer, usage=usage, model=self.id)


production = _Scripted(
    "python:tests.shadow_agent:production",
    [
        ToolCall(id="c1", name="lookup_order", arguments={"order_id": "A1"}),
        ToolCall(id="c2", name="issue_refund", arguments={"order_id": "A1", "amount": 10}),
    ],
    "Refunded 10 on order A1.",
)
candidate = _Scripted(
    "python:tests.shadow_agent:candidate",
    [
        ToolCall(id="c1", name="lookup_order", arguments={"order_id": "A1"}),
        ToolCall(id="c2", name="order_history", arguments={"order_id": "A1"}),
        ToolCall(id="c3", name="issue_refund", arguments={"order_id": "A1", "amount": 100}),
    ],
    "Refunded 100 on order A1.",
)
