"""From model ids to the model a run uses: the provider adapter, wrapped for resilience.

Hosted providers (``openai:``, ``anthropic:``) get retries with backoff (honouring
Retry-After), a circuit breaker per model id, the response cache and the price table; a chain
of ids (the agent's model, then its ``fallback`` list) becomes a ``FallbackModel``. Breakers, rate
limiters and the cache live as long as the factory (one per ``Runtime``), so they span runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tether.models.base import Model
from tether.models.registry import resolve_model
from tether.models.resilience import (
    CircuitBreaker,
    FallbackModel,
    PriceTable,
    RateLimiter,
    ResponseCache,
    RetryPolicy,
    resilient,
)
from tether.models.resilience.pricing import Price
from tether.settings import Settings

HOSTED = ("openai:", "anthropic:")


@dataclass(kw_only=True)
class ModelFactory:
    settings: Settings
    extra: Mapping[str, Model] = field(default_factory=dict)
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    limiters: dict[str, RateLimiter] = field(default_factory=dict)
    cache: ResponseCache | None = None

    def __post_init__(self) -> None:
        if self.cache is None and self.settings.cache_ttl_s > 0:
            self.cache = ResponseCache(self.settings.cache_ttl_s)

    def build(self, model_ids: Sequence[str]) -> Model:
        """The model for the first id, falling back to the others in order."""
        models = [self.one(model_id) for model_id in model_ids]
        return models[0] if len(models) == 1 else FallbackModel(models)

    def one(self, model_id: str) -> Model:
        model = resolve_model(model_id, self.settings, extra=self.extra)
        if model_id in self.extra or not model_id.startswith(HOSTED):
            return model
        s = self.settings
        breaker = self.breakers.setdefault(
            model_id,
            CircuitBreaker(failure_threshold=s.breaker_failures, reset_after_s=s.breaker_reset_s),
        )
        overrides = {name: Price(i, o) for name, (i, o) in s.prices.items()}
        qps = s.model_rate_limit_qps
        return resilient(
            model,
            limiter=self.limiters.setdefault(model_id, RateLimiter(qps)) if qps else None,
            retry=RetryPolicy(max_attempts=s.model_max_attempts, base_s=s.model_retry_base_s),
            breaker=breaker,
            cache=self.cache,
            prices=PriceTable(overrides=overrides),
        )
