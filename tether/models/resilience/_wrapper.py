"""The optional base of the resilience wrappers: hold the inner model, forward ``id``, and
expose ``stream`` exactly when the wrapped model can stream.

A wrapper is a ``StreamingModel`` only if what it wraps is one: ``isinstance(w,
StreamingModel)`` must stay a truthful question. So each subclass gets a twin,
``Streaming<Name>``, that adds ``stream`` (delegating to the subclass's ``_stream``), and
constructing the class picks the twin when ``_can_stream`` says the arguments allow it.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Self, cast

from tether.models.base import Model, StreamingModel
from tether.types import ModelRequest, ModelResponse, StreamEvent


class ModelWrapper:
    """Wraps one ``inner`` model and adds one behaviour; ``id`` is the inner model's id."""

    _streaming_twin: ClassVar[type[ModelWrapper]]

    def __init_subclass__(cls, *, twin: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if twin:
            cls._streaming_twin = types.new_class(
                f"Streaming{cls.__name__}",
                (cls, _Streams),
                {"twin": False},
                lambda ns: ns.update({"__module__": cls.__module__, "__doc__": cls.__doc__}),
            )

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        target = cls._streaming_twin if cls._can_stream(*args, **kwargs) else cls
        return cast(Self, object.__new__(target))

    def __init__(self, inner: Model) -> None:
        self.inner = inner

    @classmethod
    def _can_stream(cls, *args: Any, **kwargs: Any) -> bool:
        inner = args[0] if args else kwargs.get("inner")
        return isinstance(inner, StreamingModel)

    @property
    def id(self) -> str:
        return self.inner.id

    async def request(self, request: ModelRequest) -> ModelResponse:
        raise NotImplementedError

    def _stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    def _inner_stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        return cast(StreamingModel, self.inner).stream(request)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


class _Streams:
    """Adds ``stream`` to a wrapper's twin."""

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        return cast(ModelWrapper, self)._stream(request)


def one_line(model_id: str, exc: BaseException) -> str:
    """``"<model id>: <ErrorClass>: <first line of the message>"``, for fallbacks and errors."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return f"{model_id}: {text}"
