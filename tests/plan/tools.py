"""Tools for plan-mode tests: slow reads that record when they ran, and a lookup with rows."""

from __future__ import annotations

import threading
import time
from typing import Any

from tether import tool

SPANS: dict[str, tuple[float, float]] = {}
_LOCK = threading.Lock()
CALLS: list[str] = []


@tool(side_effect="read")
def slow_a(topic: str) -> dict[str, Any]:
    """Look up topic A slowly.

    Args:
        topic: What to look up.
    """
    return _slow("a", topic)


@tool(side_effect="read")
def slow_b(topic: str) -> dict[str, Any]:
    """Look up topic B slowly.

    Args:
        topic: What to look up.
    """
    return _slow("b", topic)


def _slow(name: str, topic: str) -> dict[str, Any]:
    started = time.monotonic()
    time.sleep(0.3)
    with _LOCK:
        SPANS[name] = (started, time.monotonic())
        CALLS.append(f"{name}:{topic}")
    return {"text": f"{name} says {topic}", "rows": [{"name": topic, "score": len(topic)}]}


@tool(side_effect="read")
def echo(text: str) -> dict[str, Any]:
    """Echo the text back.

    Args:
        text: The text.
    """
    with _LOCK:
        CALLS.append(f"echo:{text}")
    return {"text": text, "length": len(text)}


def total_is_positive(result: Any) -> bool:
    return bool(result.get("length", 0) > 0)


def goal_has_hello(goal: str, results: dict[str, Any]) -> bool:
    return any("hello" in str(r) for r in results.values())
