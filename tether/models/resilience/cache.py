"""An exact-match response cache, only for deterministic requests (``temperature == 0``).

The key is the sha256 of a canonical JSON of the model id and the whole request (messages,
tools, tool choice, output schema, settings), so any difference is a miss. A hit costs nothing:
``cached=True``, zero usage, zero cost, ``attempts=0`` (no provider call was made).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from decimal import Decimal

from tether.clock import Clock, SystemClock
from tether.errors import ConfigError
from tether.models.base import Model
from tether.models.resilience._wrapper import ModelWrapper
from tether.types import ModelRequest, ModelResponse, StreamDone, StreamEvent, TextDelta, Usage


def is_cacheable(request: ModelRequest) -> bool:
    """Only deterministic settings may be answered from the cache."""
    return request.settings.temperature == 0


def request_key(model_id: str, request: ModelRequest) -> str:
    """The cache key: sha256 of the canonical JSON of ``model_id`` and ``request``."""
    payload = {
        "model": model_id,
        "messages": [asdict(m) for m in request.messages],
        "tools": [asdict(t) for t in request.tools],
        "tool_choice": request.tool_choice,
        "output_schema": request.output_schema,
        "settings": asdict(request.settings),
    }
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class _Entry:
    response: ModelResponse
    stored_at: float


class ResponseCache:
    """In memory, least recently used first out, entries live ``ttl_s`` seconds."""

    def __init__(
        self, ttl_s: float, *, clock: Clock | None = None, max_entries: int = 1024
    ) -> None:
        if ttl_s <= 0:
            raise ConfigError(f"ResponseCache.ttl_s must be positive, not {ttl_s}")
        if max_entries < 1:
            raise ConfigError(f"ResponseCache.max_entries must be at least 1, not {max_entries}")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock: Clock = clock or SystemClock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> ModelResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock.monotonic() - entry.stored_at >= self.ttl_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.response

    def put(self, key: str, response: ModelResponse) -> None:
        self._entries[key] = _Entry(response=response, stored_at=self.clock.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _storable(response: ModelResponse) -> bool:
    """A fallback's answer is not stored: the next call should try the primary again."""
    return not response.cached and not response.fallbacks and response.finish_reason != "error"


class CachedModel(ModelWrapper):
    """Answers repeated deterministic requests from ``cache``; everything else calls through."""

    def __init__(self, inner: Model, cache: ResponseCache) -> None:
        super().__init__(inner)
        self.cache = cache

    def _key(self, request: ModelRequest) -> str | None:
        if not is_cacheable(request):
            return None
        try:
            return request_key(self.id, request)
        except (TypeError, ValueError):  # not JSON (a NaN, an odd argument value): no caching
            return None

    def _hit(self, key: str) -> ModelResponse | None:
        started = self.cache.clock.monotonic()
        stored = self.cache.get(key)
        if stored is None:
            return None
        return replace(
            stored,
            cached=True,
            usage=Usage(),
            cost=Decimal(0),
            attempts=0,
            latency_ms=(self.cache.clock.monotonic() - started) * 1000,
        )

    def _store(self, key: str | None, response: ModelResponse) -> None:
        if key is not None and _storable(response):
            self.cache.put(key, response)

    async def request(self, request: ModelRequest) -> ModelResponse:
        key = self._key(request)
        hit = self._hit(key) if key is not None else None
        if hit is not None:
            return hit
        response = await self.inner.request(request)
        self._store(key, response)
        return response

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        key = self._key(request)
        hit = self._hit(key) if key is not None else None
        if hit is not None:
            if hit.text:
                yield TextDelta(text=hit.text)
            yield StreamDone(response=hit)
            return
        async for event in self._inner_stream(request):
            if isinstance(event, StreamDone):
                self._store(key, event.response)
            yield event
