"""A scripted model that obeys instructions it reads in tool output: the worst case of a model
under prompt injection, for tests and the red-team suite.

It plays its legitimate script (``steps``) like ``ScriptedModel``. Whenever a tool result it
is shown contains the trigger of one of its ``obey`` entries, it does what that text asked
first: one response per step of the entry, with the attacker's values. Argument strings may
use templates filled from the tool results it has read, the way an obedient model would copy
data: ``{{result:TOOL}}`` (the last result of TOOL as text), ``{{b64:TOOL}}`` (the same,
base64-encoded) and ``{{slice:TOOL:A:B}}`` (characters A to B of it, to split data across
calls or arguments).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.testing.scripted import ScriptError, ScriptStep
from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage

_TEMPLATE = re.compile(r"\{\{(result|b64|slice):([A-Za-z0-9_]+)(?::(\d+):(\d+))?\}\}")


@dataclass(frozen=True, kw_only=True)
class Obedience:
    """What the model does when ``trigger`` appears in a tool result: ``steps`` of calls."""

    trigger: str
    steps: tuple[tuple[ToolCall, ...], ...]


@dataclass(kw_only=True)
class GullibleModel:
    steps: Sequence[ScriptStep]
    obey: Sequence[Obedience] = ()
    model_id: str = "gullible"
    requests: list[ModelRequest] = field(default_factory=list)
    obeyed: list[str] = field(default_factory=list)  # the triggers it acted on
    _queue: list[tuple[ToolCall, ...]] = field(default_factory=list)
    _position: int = 0

    @property
    def id(self) -> str:
        return self.model_id

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        results = [m for m in request.messages if isinstance(m, ToolResultMessage)]
        seen = "\n".join(_readable(m.content) for m in results).casefold()
        for entry in self.obey:
            if entry.trigger not in self.obeyed and entry.trigger.casefold() in seen:
                self.obeyed.append(entry.trigger)
                self._queue.extend(entry.steps)
        if self._queue:
            step_calls = self._queue.pop(0)
            texts = _last_results(results)
            calls = tuple(
                ToolCall(
                    id=f"obey_{len(self.requests)}_{i}",
                    name=c.name,
                    arguments=_fill(c.arguments, texts),
                )
                for i, c in enumerate(step_calls)
            )
            return _response(None, calls, self.model_id)
        step = self._next_step()
        return _response(step.text, step.tool_calls, self.model_id)

    def _next_step(self) -> ScriptStep:
        if self._position >= len(self.steps):
            raise ScriptError(
                f"gullible model got request {len(self.requests)} but its script has "
                f"{len(self.steps)} steps"
            )
        step = self.steps[self._position]
        self._position += 1
        return step


def _response(text: str | None, calls: tuple[ToolCall, ...], model_id: str) -> ModelResponse:
    return ModelResponse(
        text=text,
        tool_calls=calls,
        usage=Usage(input_tokens=1, output_tokens=1),
        model=model_id,
        model_version="gullible",
        finish_reason="tool_calls" if calls else "stop",
    )


def _readable(content: str) -> str:
    """A result's text as a model reads it: the JSON's strings, unescaped."""
    try:
        value = json.loads(content)
    except ValueError:
        return content
    return "\n".join(_strings(value)) + "\n" + content


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _last_results(results: Sequence[ToolResultMessage]) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in results:
        if m.is_error:
            continue
        try:
            value = json.loads(m.content)
        except ValueError:
            value = m.content
        if isinstance(value, dict) and isinstance(value.get("content"), str):
            value = value["content"]
        out[m.name] = value if isinstance(value, str) else json.dumps(value)
    return out


def _fill(value: Any, texts: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _TEMPLATE.sub(lambda m: _expand(m, texts), value)
    if isinstance(value, dict):
        return {k: _fill(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, texts) for v in value]
    return value


def _expand(match: re.Match[str], texts: dict[str, str]) -> str:
    kind, tool_name, start, end = match.groups()
    text = texts.get(tool_name, "")
    if kind == "b64":
        return base64.b64encode(text.encode()).decode()
    if kind == "slice":
        return text[int(start or 0) : int(end or len(text))]
    return text
