"""A deterministic model for tests and replay: it plays a script and fails loudly when the
conversation goes somewhere the script did not expect."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tether.types import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    ToolCall,
    Usage,
)


class ScriptError(AssertionError):
    """The model was asked for more than its script holds, or left steps unconsumed."""


@dataclass(frozen=True, kw_only=True)
class ScriptStep:
    """One scripted response. ``expect`` may check the request before it is answered."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    expect: Callable[[ModelRequest], bool] | None = None
    raises: BaseException | None = None
    cost: Decimal = Decimal(0)  # what the response says the call cost


def call(name: str, /, **arguments: Any) -> ScriptStep:
    """A step that calls one tool."""
    return ScriptStep(tool_calls=(ToolCall(id="call_0", name=name, arguments=arguments),))


def calls(*pairs: tuple[str, dict[str, Any]]) -> ScriptStep:
    """A step that calls several tools at once."""
    return ScriptStep(
        tool_calls=tuple(
            ToolCall(id=f"call_{i}", name=n, arguments=a) for i, (n, a) in enumerate(pairs)
        )
    )


def answer(text: str) -> ScriptStep:
    """A step that finishes with a text answer."""
    return ScriptStep(text=text)


def _message_chars(m: Message) -> int:
    if isinstance(m, AssistantMessage):
        return len(m.content or "") + sum(len(json.dumps(c.arguments)) for c in m.tool_calls)
    return len(m.content)


@dataclass(kw_only=True)
class ScriptedModel:
    """Answers requests from ``steps`` in order.

    ``repeat_last=True`` replays the final step forever (for benchmarks of long runs).
    Call ``assert_consumed()`` at the end of a test: unconsumed steps are a failure.
    """

    steps: Sequence[ScriptStep]
    model_id: str = "scripted"
    repeat_last: bool = False
    requests: list[ModelRequest] = field(default_factory=list)
    _position: int = 0
    # id(message) -> (message, chars): the entry holds the message, so its id is not reused
    _sizes: dict[int, tuple[Message, int]] = field(default_factory=dict)

    def _approx_tokens(self, messages: Sequence[Message]) -> int:
        chars = 0
        for m in messages:
            entry = self._sizes.get(id(m))
            if entry is None or entry[0] is not m:
                entry = self._sizes[id(m)] = (m, _message_chars(m))
            chars += entry[1]
        return max(1, chars // 4)

    @property
    def id(self) -> str:
        return self.model_id

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        step = self._next_step()
        if step.expect is not None and not step.expect(request):
            raise ScriptError(f"scripted step {self._position} did not expect this request")
        if step.raises is not None:
            raise step.raises
        out = len(step.text or "") + sum(len(json.dumps(c.arguments)) for c in step.tool_calls)
        return ModelResponse(
            text=step.text,
            tool_calls=step.tool_calls,
            usage=Usage(
                input_tokens=self._approx_tokens(request.messages), output_tokens=out // 4 + 1
            ),
            model=self.model_id,
            model_version="script",
            cost=step.cost,
            finish_reason="tool_calls" if step.tool_calls else "stop",
        )

    def _next_step(self) -> ScriptStep:
        if self._position >= len(self.steps):
            if self.repeat_last and self.steps:
                return self.steps[-1]
            raise ScriptError(
                f"scripted model got request {self._position + 1} but its script has "
                f"{len(self.steps)} steps"
            )
        step = self.steps[self._position]
        self._position += 1
        return step

    @property
    def remaining(self) -> int:
        return max(0, len(self.steps) - self._position)

    def assert_consumed(self) -> None:
        if self.remaining and not self.repeat_last:
            raise ScriptError(f"scripted model has {self.remaining} unconsumed steps")
