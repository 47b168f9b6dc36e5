"""Every memory read and write a run makes is journaled with the items' ids.

A memory tool is marked (:func:`mark_memory_tool`) with what it does (``read`` or ``write``)
and its tier; its result carries ``item_ids``. The tool step adds :func:`memory_events` to the
commit of the call's outcome: a ``memory_read`` or ``memory_written`` event keyed by the
call's position, so it is journaled exactly when the outcome is (once, however often the step
replays). Nothing of the items' text goes into these events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from tether.events import EventKey, MemoryRead, MemoryWritten, Payload
from tether.tools.contract import Tool

Op = Literal["read", "write"]
_MARK = "_tether_memory"


def mark_memory_tool(t: Tool, op: Op, tier: str) -> Tool:
    """Mark ``t`` as a memory tool whose calls are journaled as ``op`` on ``tier``."""
    setattr(t.fn, _MARK, (op, tier))
    return t


def memory_mark(t: Tool) -> tuple[Op, str] | None:
    mark = getattr(t.fn, _MARK, None)
    return mark if isinstance(mark, tuple) else None


def memory_events(
    key: Callable[[int, str, int], EventKey],
    step: int,
    index: int,
    t: Tool,
    ok: bool,
    result: Any,
    call_id: str,
) -> list[tuple[EventKey, Payload]]:
    """The memory event of call ``index`` of ``step`` (none for other tools or failed calls)."""
    mark = memory_mark(t)
    if mark is None or not ok or not isinstance(result, dict):
        return []
    ids = [str(i) for i in result.get("item_ids", [])]
    op, tier = mark
    name = t.contract.name
    if op == "read":
        payload: Payload = MemoryRead(tier=tier, item_ids=ids, tool=name, call_id=call_id)
        return [(key(step, "memory_read", index), payload)]
    reason = str(result.get("reason", ""))
    payload = MemoryWritten(tier=tier, item_ids=ids, reason=reason, tool=name, call_id=call_id)
    return [(key(step, "memory_written", index), payload)]
