"""Provider resilience: thin wrappers around a ``Model``, each adding one behaviour.

Each wrapper is a ``Model`` (and a ``StreamingModel`` when what it wraps streams); the
decisions inside (retry delays, breaker states, token buckets, cache keys, prices) are pure
objects that take values and return values. ``resilient`` composes the usual stack.
"""

from __future__ import annotations

import asyncio
import random

from tether.models.base import Model
from tether.models.resilience.breaker import BreakerModel, BreakerState, CircuitBreaker
from tether.models.resilience.cache import CachedModel, ResponseCache, is_cacheable, request_key
from tether.models.resilience.fallback import FallbackModel
from tether.models.resilience.pricing import (
    DEFAULT_PRICES,
    CostedModel,
    Price,
    PriceTable,
    Quote,
    provider_model_name,
)
from tether.models.resilience.ratelimit import RateLimitedModel, RateLimiter
from tether.models.resilience.retry import RetryingModel, RetryPolicy, Sleep

__all__ = [
    "DEFAULT_PRICES",
    "BreakerModel",
    "BreakerState",
    "CachedModel",
    "CircuitBreaker",
    "CostedModel",
    "FallbackModel",
    "Price",
    "PriceTable",
    "Quote",
    "RateLimitedModel",
    "RateLimiter",
    "ResponseCache",
    "RetryPolicy",
    "RetryingModel",
    "is_cacheable",
    "provider_model_name",
    "request_key",
    "resilient",
]

_DEFAULT_RETRY = RetryPolicy()


def resilient(
    model: Model,
    *,
    retry: RetryPolicy | None = _DEFAULT_RETRY,
    breaker: CircuitBreaker | None = None,
    limiter: RateLimiter | None = None,
    cache: ResponseCache | None = None,
    prices: PriceTable | None = None,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> Model:
    """Wrap one provider's ``model``; ``None`` leaves a layer out. From outside in::

        CachedModel(CostedModel(BreakerModel(RetryingModel(RateLimitedModel(model)))))

    - the cache is outermost, so a hit makes no call, spends no token or rate-limit slot,
      costs nothing, and is served even while the breaker is open (graceful degradation);
    - pricing sits inside the cache (a hit is not priced again: it costs 0) and outside the
      retries, so the answer that was returned is priced once (failed tries use no tokens);
    - the breaker is outside the retries, so one logical call that failed after all its
      retries counts as one failure, and an open breaker stops a whole retry sequence at once;
    - the rate limiter is innermost, so every real provider call, each retry included, waits
      for its token.

    A breaker, limiter and cache hold state about one provider: build one per provider and
    keep it for the life of the process. For graceful degradation across providers, wrap each
    one and chain them: ``FallbackModel([resilient(hosted, ...), resilient(local)])``.
    """
    wrapped = model
    if limiter is not None:
        wrapped = RateLimitedModel(wrapped, limiter)
    if retry is not None:
        wrapped = RetryingModel(wrapped, retry, sleep=sleep, rng=rng)
    if breaker is not None:
        wrapped = BreakerModel(wrapped, breaker)
    if prices is not None:
        wrapped = CostedModel(wrapped, prices)
    if cache is not None:
        wrapped = CachedModel(wrapped, cache)
    return wrapped
