"""Retries of transient model failures with exponential backoff, jitter and Retry-After.

``RetryPolicy`` is the pure decision (``delay`` takes an attempt number, the error and a random
draw, and returns how long to wait or ``None`` to give up); ``RetryingModel`` does the waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

from tether.errors import ConfigError, ModelError, ModelRateLimited, ModelTransientError
from tether.models.base import Model
from tether.models.resilience._wrapper import ModelWrapper
from tether.types import ModelRequest, ModelResponse, StreamDone, StreamEvent

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """``max_attempts`` tries in all (the first call included).

    After failed attempt ``n`` the wait is ``min(max_s, base_s * 2**(n-1))``, reduced by a random
    fraction of at most ``jitter`` (``jitter=0.5``: between half and all of it), so callers that
    failed together do not retry together. A ``ModelRateLimited`` with ``retry_after`` waits
    exactly that long instead (capped at ``max_s``). Only ``ModelTransientError`` is retried:
    ``ModelOutputError`` (already retried by the adapter), ``ModelUnavailable`` (bad key, open
    circuit) and plain ``ModelError`` would fail the same way again.
    """

    max_attempts: int = 4
    base_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(
                f"RetryPolicy.max_attempts must be at least 1, not {self.max_attempts}"
            )
        if not 0 <= self.base_s <= self.max_s:
            raise ConfigError(
                f"RetryPolicy needs 0 <= base_s <= max_s, got base_s={self.base_s}, "
                f"max_s={self.max_s}"
            )
        if not 0 <= self.jitter <= 1:
            raise ConfigError(f"RetryPolicy.jitter must be between 0 and 1, not {self.jitter}")

    def backoff(self, attempt: int, draw: float = 0.0) -> float:
        """The wait after failed attempt ``attempt`` (1-based); ``draw`` in [0, 1) is random."""
        raw = min(self.max_s, self.base_s * 2.0 ** min(attempt - 1, 62))
        return raw * (1 - self.jitter * draw)

    def delay(self, attempt: int, error: BaseException, draw: float = 0.0) -> float | None:
        """How long to wait before the next try, or ``None`` to give up and re-raise."""
        if attempt >= self.max_attempts or not isinstance(error, ModelTransientError):
            return None
        if isinstance(error, ModelRateLimited) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_s)
        return self.backoff(attempt, draw)


class RetryingModel(ModelWrapper):
    """Retries ``inner`` under ``policy``. The response's ``attempts`` counts every try (the
    inner response's own ``attempts`` plus the failed calls before it); when the policy gives
    up, the last error is re-raised with a note saying how many attempts were made.

    A stream is retried only while it has produced no event: text already handed to the caller
    cannot be taken back.
    """

    def __init__(
        self,
        inner: Model,
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(inner)
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def request(self, request: ModelRequest) -> ModelResponse:
        failures = 0
        while True:
            try:
                response = await self.inner.request(request)
            except ModelError as exc:
                failures += 1
                if not await self._wait(failures, exc):
                    raise
                continue
            return replace(response, attempts=failures + response.attempts)

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        failures = 0
        while True:
            started = False
            try:
                async for event in self._inner_stream(request):
                    started = True
                    if isinstance(event, StreamDone):
                        attempts = failures + event.response.attempts
                        event = StreamDone(response=replace(event.response, attempts=attempts))
                    yield event
                return
            except ModelError as exc:
                failures += 1
                if started or not await self._wait(failures, exc):
                    raise

    async def _wait(self, attempt: int, exc: ModelError) -> bool:
        """Sleep before the next try and return True, or note the give-up and return False."""
        delay = self.policy.delay(attempt, exc, self._rng.random())
        if delay is None:
            if attempt > 1:
                exc.add_note(f"{self.id!r} failed {attempt} attempts; gave up")
            return False
        await self._sleep(delay)
        return True
