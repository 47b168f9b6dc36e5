"""A fallback chain: ask the next model when one fails (a hosted model, then the local one).

Any ``ModelError`` moves on to the next model, ``ModelOutputError`` included: another model may
well produce valid output where this one could not. Other exceptions (bugs, cancellation) are
not provider failures and propagate at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

from tether.errors import ConfigError, ModelError, ModelUnavailable
from tether.models.base import Model, StreamingModel
from tether.models.resilience._wrapper import ModelWrapper, one_line
from tether.types import ModelRequest, ModelResponse, StreamDone, StreamEvent


class FallbackModel(ModelWrapper):
    """Tries ``chain`` in order and returns the first answer.

    The answer's ``fallbacks`` lists ``"<model id>: <error>"`` for each model that failed first,
    and its ``model`` names the model that answered. When all fail, ``ModelUnavailable`` lists
    every failure on one line. ``id`` is the first model's id. It streams when every model in
    the chain does; a stream falls back only while it has produced no event.
    """

    def __init__(self, chain: Sequence[Model]) -> None:
        if not chain:
            raise ConfigError("FallbackModel needs at least one model in its chain")
        super().__init__(chain[0])
        self.chain = tuple(chain)

    @classmethod
    def _can_stream(cls, *args: Any, **kwargs: Any) -> bool:
        chain = args[0] if args else kwargs.get("chain", ())
        return bool(chain) and all(isinstance(m, StreamingModel) for m in chain)

    async def request(self, request: ModelRequest) -> ModelResponse:
        failures: list[str] = []
        last: ModelError | None = None
        for model in self.chain:
            try:
                response = await model.request(request)
            except ModelError as exc:
                failures.append(one_line(model.id, exc))
                last = exc
                continue
            return _answered(model, response, failures)
        raise self._all_failed(failures) from last

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        failures: list[str] = []
        last: ModelError | None = None
        for model in self.chain:
            started = False
            try:
                async for event in _as_streaming(model).stream(request):
                    started = True
                    if isinstance(event, StreamDone):
                        event = StreamDone(response=_answered(model, event.response, failures))
                    yield event
                return
            except ModelError as exc:
                if started:
                    raise
                failures.append(one_line(model.id, exc))
                last = exc
        raise self._all_failed(failures) from last

    def _all_failed(self, failures: list[str]) -> ModelUnavailable:
        return ModelUnavailable(
            f"all {len(failures)} models of the fallback chain {self.id!r} failed: "
            + "; ".join(failures)
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.chain)!r})"


def _as_streaming(model: Model) -> StreamingModel:
    assert isinstance(model, StreamingModel)
    return model


def _answered(model: Model, response: ModelResponse, failures: list[str]) -> ModelResponse:
    return replace(
        response,
        model=response.model or model.id,
        fallbacks=(*failures, *response.fallbacks),
    )
