"""Counting a prompt's tokens: with the model's own tokenizer where it offers one, else an
estimate.

A model offers a tokenizer by having a ``count_tokens(text) -> int`` method (the embedded
llama.cpp model does); resilience wrappers are looked through (``inner``, a fallback chain's
first model). The estimate, for models without one (hosted APIs, the scripted model), is
``ceil(chars / 4)``: English BPE tokenizers average about four characters per token, and
rounding up errs towards a smaller prompt. Every message adds ``MESSAGE_OVERHEAD`` tokens (role
and separators in chat templates) and tool specs count by their JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tether.types import AssistantMessage, Message, ToolSpec

MESSAGE_OVERHEAD = 4
CHARS_PER_TOKEN = 4


@runtime_checkable
class TokenCounter(Protocol):
    """Counts the tokens of a text."""

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...


@dataclass(frozen=True)
class EstimateCounter:
    """``ceil(len(text) / 4)``: the documented estimate for models without a tokenizer."""

    name: str = "estimate:chars/4"

    def count(self, text: str) -> int:
        return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class ModelCounter:
    """The model's own tokenizer (``model.count_tokens``)."""

    model: Any
    name: str = "model"

    def count(self, text: str) -> int:
        return int(self.model.count_tokens(text))


def counter_for(model: object) -> TokenCounter:
    """The model's tokenizer if it (or the model it wraps) has one, else the estimate."""
    seen = 0
    current: object | None = model
    while current is not None and seen < 16:
        if callable(getattr(current, "count_tokens", None)):
            return ModelCounter(current, name=f"tokenizer:{getattr(current, 'id', '?')}")
        chain = getattr(current, "chain", None)
        current = chain[0] if chain else getattr(current, "inner", None)
        seen += 1
    return EstimateCounter()


def message_text(message: Message) -> str:
    """The text of a message as a tokenizer sees it (tool calls by their JSON arguments)."""
    if isinstance(message, AssistantMessage):
        calls = [f"{c.name}({json.dumps(c.arguments, sort_keys=True)})" for c in message.tool_calls]
        return "\n".join([message.content or "", *calls])
    return message.content


def message_tokens(counter: TokenCounter, message: Message) -> int:
    return counter.count(message_text(message)) + MESSAGE_OVERHEAD


def prompt_tokens(
    counter: TokenCounter, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()
) -> int:
    """Tokens of a whole prompt: its messages and the specs of the tools it offers."""
    total = sum(message_tokens(counter, m) for m in messages)
    for t in tools:
        spec = {"name": t.name, "description": t.description, "parameters": t.input_schema}
        total += counter.count(json.dumps(spec, sort_keys=True)) + MESSAGE_OVERHEAD
    return total
