"""Per-tool rate limits: wait for a token from the tool's bucket before each call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tether.clock import Clock
from tether.models.resilience.ratelimit import RateLimiter, Sleep
from tether.tools.contract import ToolContext, ToolContract
from tether.tools.executor import PreparedCall, ToolOutcome
from tether.tools.resilience._base import ToolRunner, ToolRunnerWrapper


class RateLimitedTools(ToolRunnerWrapper):
    """Honours each contract's ``rate_limit_qps`` (burst ``max(1, qps)``); calls queue in order.

    One token per logical call: the retries inside ``ToolExecutor`` do not take another.
    """

    def __init__(
        self, inner: ToolRunner, *, clock: Clock | None = None, sleep: Sleep = asyncio.sleep
    ) -> None:
        super().__init__(inner)
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[str, RateLimiter] = {}

    def limiter(self, contract: ToolContract) -> RateLimiter | None:
        """The bucket for ``contract``'s tool, made on first use; None when it has no limit."""
        qps = contract.rate_limit_qps
        if qps is None:
            return None
        limiter = self._limiters.get(contract.name)
        if limiter is None or limiter.qps != qps:
            burst = max(1, int(qps))
            limiter = RateLimiter(qps, burst, clock=self._clock, sleep=self._sleep)
            self._limiters[contract.name] = limiter
        return limiter

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        limiter = self.limiter(prepared.tool.contract)
        if limiter is not None:
            await limiter.acquire()
        return await self.inner.execute(prepared, ctx)

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]:
        """A batch is one request to the tool's backend: one token."""
        limiter = self.limiter(prepared[0].tool.contract)
        if limiter is not None:
            await limiter.acquire()
        return await self.inner.execute_batch(prepared, ctxs)
