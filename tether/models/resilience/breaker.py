"""A circuit breaker per provider: stop calling a provider that keeps failing, probe it again
after a while.

``CircuitBreaker`` is a pure state machine (it reads an injected clock, does no I/O)::

    closed --N consecutive failures--> open --reset_after_s--> half_open
    half_open --probe succeeds--> closed
    half_open --probe fails-----> open (the reset timer starts again)

In ``half_open`` exactly one call (the probe) is let through; others fail fast until it ends.
``BreakerModel`` asks it before each call and tells it how the call ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from tether.clock import Clock, SystemClock
from tether.errors import ConfigError, ModelError, ModelTransientError, ModelUnavailable
from tether.models.base import Model
from tether.models.resilience._wrapper import ModelWrapper
from tether.types import ModelRequest, ModelResponse, StreamEvent

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures; ``state`` is what a journal records."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ConfigError(
                f"CircuitBreaker.failure_threshold must be at least 1, not {failure_threshold}"
            )
        if reset_after_s < 0:
            raise ConfigError(f"CircuitBreaker.reset_after_s must be >= 0, not {reset_after_s}")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock or SystemClock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._probing or self.retry_after_s == 0:
            return "half_open"
        return "open"

    @property
    def failures(self) -> int:
        """Consecutive failures so far (reset by a success)."""
        return self._failures

    @property
    def probing(self) -> bool:
        """Whether the half-open probe call is in flight."""
        return self._probing

    @property
    def retry_after_s(self) -> float:
        """Seconds until the breaker lets a probe through; 0 when it is not open."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_after_s - self._clock.monotonic())

    def allow(self) -> bool:
        """May a call go ahead now? In ``half_open`` this claims the one probe."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or (self._opened_at is None and self._failures >= self.failure_threshold):
            self._opened_at = self._clock.monotonic()
        self._probing = False

    def release(self) -> None:
        """A call ended without saying anything about the provider (cancelled, a bug)."""
        self._probing = False


class BreakerModel(ModelWrapper):
    """Fails fast with ``ModelUnavailable`` while ``breaker`` is open, without calling ``inner``.

    ``ModelTransientError`` and ``ModelUnavailable`` count as failures. Any other ``ModelError``
    (invalid output, a rejected request) means the provider answered, so it counts as a
    success; other exceptions and cancellation only release a half-open probe.
    """

    def __init__(self, inner: Model, breaker: CircuitBreaker) -> None:
        super().__init__(inner)
        self.breaker = breaker

    @property
    def state(self) -> BreakerState:
        return self.breaker.state

    async def request(self, request: ModelRequest) -> ModelResponse:
        self._admit()
        try:
            response = await self.inner.request(request)
        except BaseException as exc:
            self._record(exc)
            raise
        self.breaker.record_success()
        return response

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        self._admit()
        try:
            async for event in self._inner_stream(request):
                yield event
        except BaseException as exc:
            self._record(exc)
            raise
        self.breaker.record_success()

    def _admit(self) -> None:
        if self.breaker.allow():
            return
        b = self.breaker
        if b.probing:
            raise ModelUnavailable(
                f"circuit breaker for {self.id!r} is half-open after {b.failures} failures and "
                "a probe call is in flight; retry when it ends"
            )
        raise ModelUnavailable(
            f"circuit breaker for {self.id!r} is open after {b.failures} failures; "
            f"retry after {b.retry_after_s:.1f} s"
        )

    def _record(self, exc: BaseException) -> None:
        if isinstance(exc, ModelTransientError | ModelUnavailable):
            self.breaker.record_failure()
        elif isinstance(exc, ModelError):
            self.breaker.record_success()
        else:
            self.breaker.release()
