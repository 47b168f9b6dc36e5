"""Client-side rate limiting: a token bucket in front of a provider.

``RateLimiter.reserve`` is the pure decision: it refills the bucket from the clock, takes a
token (the count may go below zero: callers queue up in order) and returns how long the caller
must wait for it. ``acquire`` does the waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from tether.clock import Clock, SystemClock
from tether.errors import ConfigError
from tether.models.base import Model
from tether.models.resilience._wrapper import ModelWrapper
from tether.types import ModelRequest, ModelResponse, StreamEvent

Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """At most ``burst`` calls at once, then ``qps`` calls per second on average."""

    def __init__(
        self,
        qps: float,
        burst: int = 1,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if qps <= 0:
            raise ConfigError(f"RateLimiter.qps must be positive, not {qps}")
        if burst < 1:
            raise ConfigError(f"RateLimiter.burst must be at least 1, not {burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = self._clock.monotonic()

    @property
    def tokens(self) -> float:
        """Tokens left at the last reservation (negative: callers waiting)."""
        return self._tokens

    def reserve(self) -> float:
        """Take a token; return the seconds to wait before using it (0 when one was there)."""
        now = self._clock.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> float:
        """Wait for a token; return how long that took."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
        return wait


class RateLimitedModel(ModelWrapper):
    """Waits for a token from ``limiter`` before each call to ``inner``."""

    def __init__(self, inner: Model, limiter: RateLimiter) -> None:
        super().__init__(inner)
        self.limiter = limiter

    async def request(self, request: ModelRequest) -> ModelResponse:
        await self.limiter.acquire()
        return await self.inner.request(request)

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        await self.limiter.acquire()
        async for event in self._inner_stream(request):
            yield event
