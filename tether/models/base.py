"""The ``Model`` protocol every provider adapter implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from tether.types import ModelRequest, ModelResponse, StreamEvent


@runtime_checkable
class Model(Protocol):
    """A chat model: takes tether's own request type, returns tether's own response type.

    ``id`` is the model id it was resolved from (``local:smollm2``, ``openai:gpt-4o-mini``).
    Adapters validate their own output: a response's tool calls name tools from the request
    and carry JSON-object arguments; ``finish_reason`` is ``"length"`` when output was cut.
    """

    @property
    def id(self) -> str: ...

    async def request(self, request: ModelRequest) -> ModelResponse: ...


@runtime_checkable
class StreamingModel(Model, Protocol):
    """A model that can stream: ``TextDelta`` events, then one ``StreamDone`` with usage."""

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]: ...
