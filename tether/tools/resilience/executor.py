"""``ResilientToolExecutor``: the usual stack of tool wrappers around a ``ToolExecutor``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from tether.clock import Clock
from tether.models.resilience.breaker import BreakerState
from tether.models.resilience.ratelimit import Sleep
from tether.tools.contract import ToolContext
from tether.tools.executor import PreparedCall, ToolOutcome
from tether.tools.registry import ToolRegistry
from tether.tools.resilience._base import ToolRunner
from tether.tools.resilience.breaker import BreakerTools
from tether.tools.resilience.bulkhead import BulkheadTools, MaxConcurrent
from tether.tools.resilience.cache import CachedTools, ToolResultCache
from tether.tools.resilience.fallback import FallbackTools
from tether.tools.resilience.ratelimit import RateLimitedTools
from tether.types import ToolCall


class ResilientToolExecutor:
    """``ToolExecutor``'s interface with per-tool resilience. From outside in::

        FallbackTools(CachedTools(BreakerTools(BulkheadTools(RateLimitedTools(inner)))))

    - fallback is outermost: it sees every failure, ``circuit_open`` included, and runs the
      fallback tool through the whole stack (its own cache, breaker, bulkhead and limiter);
    - the cache is outside the breaker: a hit makes no call and is served while it is open;
    - the breaker is outside the bulkhead: an open breaker answers at once, without a slot;
    - the rate limiter is innermost: a token is taken just before the call runs, so waiting
      for a bulkhead slot does not bunch calls up past the tool's qps.

    Timeouts, retries and output validation stay in ``inner``. ``execute`` never raises an
    ``Exception``; state lives in this object (one per runtime), never in globals.
    """

    def __init__(
        self,
        inner: ToolRunner,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        breaker_failures: int = 5,
        breaker_reset_s: float = 30.0,
        max_concurrent: MaxConcurrent = None,
        cache_ttl_s: float = 300.0,
        fallbacks: Mapping[str, str] = MappingProxyType({}),
    ) -> None:
        self.inner = inner
        self.limits = RateLimitedTools(inner, clock=clock, sleep=sleep)
        bulkhead = BulkheadTools(self.limits, max_concurrent)
        self.breakers = BreakerTools(
            bulkhead, failure_threshold=breaker_failures, reset_after_s=breaker_reset_s, clock=clock
        )
        self.cache = ToolResultCache(ttl_s=cache_ttl_s, clock=clock)
        self._stack = FallbackTools(CachedTools(self.breakers, self.cache), fallbacks)

    def prepare(self, registry: ToolRegistry, call: ToolCall) -> PreparedCall:
        """Resolve and validate (raises ``ToolError`` subclasses, like ``ToolExecutor``)."""
        return self._stack.prepare(registry, call)

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        return await self._stack.execute(prepared, ctx)

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]:
        """Calls of one tool through its batch form: one breaker, bulkhead and rate-limit
        decision for the batch; no cache or fallback."""
        return await self._stack.execute_batch(prepared, ctxs)

    def states(self) -> dict[str, BreakerState]:
        """Each called tool's circuit breaker state, by name (for the journal)."""
        return self.breakers.states()
