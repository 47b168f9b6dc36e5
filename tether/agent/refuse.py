"""A tool call that never runs: journaled as an unvalidated intent and an error outcome.

Unknown tools, bad arguments, guardrail blocks and kill switches all end a call this way, so
the model gets a structured error it can act on and a rebuilt run sees the same conversation.
"""

from __future__ import annotations

from typing import Any

from tether.agent.context import RunContext
from tether.events import EventKey, Payload, ToolCallFinished, ToolCallStarted
from tether.types import ToolCall


def refused_call(
    ctx: RunContext, step: int, index: int, call: ToolCall, error: dict[str, Any], key: str = ""
) -> list[tuple[EventKey, Payload]]:
    """The two events of call ``index`` at ``step`` refused with ``error`` (not yet recorded)."""
    started = ToolCallStarted(
        call_id=call.id,
        tool=call.name,
        arguments=call.arguments,
        idempotency_key=key,
        validated=False,
    )
    finished = ToolCallFinished(call_id=call.id, tool=call.name, ok=False, error=error)
    return [
        (ctx.key(step, "tool_call_started", index), started),
        (ctx.key(step, "tool_call_finished", index), finished),
    ]
