"""Fixtures for model tests: tool specs and a fake ``Llama`` that replays canned outputs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tether.types import ToolSpec

CALCULATOR = ToolSpec(
    name="calculator",
    description="Evaluate an arithmetic expression and return the number.",
    input_schema={
        "type": "object",
        "properties": {
            "expression": {"type": "string", "description": "arithmetic, e.g. 2*(3+4)"},
            "precision": {"type": "integer", "minimum": 0, "maximum": 10},
        },
        "required": ["expression"],
    },
)
CLOCK = ToolSpec(
    name="get_datetime",
    description="Return the current date and time in a time zone.",
    input_schema={
        "type": "object",
        "properties": {
            "timezone": {"type": "string", "enum": ["UTC", "Europe/Paris", "Asia/Tokyo"]},
        },
        "required": ["timezone"],
    },
)


@dataclass
class FakeLlama:
    """Returns ``outputs`` in order, as ``(text, finish_reason)``; records every call."""

    outputs: list[tuple[str, str]]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        text, finish = self.outputs.pop(0)
        message = {"role": "assistant", "content": text}
        return {
            "choices": [{"message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3},
        }


def fake(outputs: Iterable[str | tuple[str, str]]) -> FakeLlama:
    return FakeLlama([o if isinstance(o, tuple) else (o, "stop") for o in outputs])


@pytest.fixture
def tools() -> tuple[ToolSpec, ...]:
    return (CALCULATOR, CLOCK)
