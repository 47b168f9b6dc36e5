"""What a model call cost, in exact ``Decimal`` money.

``PriceTable.quote`` is the pure computation; ``CostedModel`` fills ``ModelResponse.cost``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType

from tether.errors import ConfigError
from tether.models.base import Model
from tether.models.resilience._wrapper import ModelWrapper
from tether.types import ModelRequest, ModelResponse, StreamDone, StreamEvent, Usage


@dataclass(frozen=True)
class Price:
    """US dollars per million input and output tokens."""

    input_per_million: Decimal
    output_per_million: Decimal

    def __post_init__(self) -> None:
        for name in ("input_per_million", "output_per_million"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or value < 0:
                raise ConfigError(
                    f"Price.{name} must be a non-negative Decimal such as Decimal('2.50'), "
                    f"not {value!r}"
                )

    def cost(self, usage: Usage) -> Decimal:
        total = self.input_per_million * usage.input_tokens
        total += self.output_per_million * usage.output_tokens
        return total.scaleb(-6)


FREE = Price(Decimal(0), Decimal(0))

# Public list prices in USD per million tokens (input, output) when this table was written.
# Providers change them and negotiate discounts: pass ``overrides`` to ``PriceTable``.
# Dated names (``gpt-4o-2024-08-06``, ``claude-3-5-sonnet-20241022``) match their prefix.
DEFAULT_PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "gpt-4o": Price(Decimal("2.50"), Decimal("10.00")),
        "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.60")),
        "gpt-4.1": Price(Decimal("2.00"), Decimal("8.00")),
        "gpt-4.1-mini": Price(Decimal("0.40"), Decimal("1.60")),
        "gpt-4.1-nano": Price(Decimal("0.10"), Decimal("0.40")),
        "claude-3-5-sonnet": Price(Decimal("3.00"), Decimal("15.00")),
        "claude-3-5-haiku": Price(Decimal("0.80"), Decimal("4.00")),
        "claude-3-7-sonnet": Price(Decimal("3.00"), Decimal("15.00")),
        "claude-sonnet-4": Price(Decimal("3.00"), Decimal("15.00")),
        "claude-opus-4": Price(Decimal("15.00"), Decimal("75.00")),
    }
)

# Providers that run on this machine (or are test doubles): their calls cost nothing.
FREE_PROVIDERS = frozenset({"local", "scripted"})


def provider_model_name(model_id: str) -> str:
    """``openai:gpt-4o-mini`` → ``gpt-4o-mini``; ``openai:http://host/v1#qwen2.5`` →
    ``qwen2.5``; a bare name stays as it is."""
    if "#" in model_id:
        return model_id.rsplit("#", 1)[1]
    return model_id.split(":", 1)[1] if ":" in model_id else model_id


@dataclass(frozen=True, kw_only=True)
class Quote:
    """A cost and whether a price was known (``priced=False``: unknown model, cost 0)."""

    cost: Decimal
    priced: bool


class PriceTable:
    """``prices`` with ``overrides`` on top. Keys are provider model names or full model ids."""

    def __init__(
        self,
        prices: Mapping[str, Price] = DEFAULT_PRICES,
        overrides: Mapping[str, Price] | None = None,
    ) -> None:
        self._prices: Mapping[str, Price] = MappingProxyType({**prices, **(overrides or {})})

    def price(self, model: str) -> Price | None:
        """The price of a model id or name: exact id, exact name, then the longest known
        name that prefixes it followed by ``-`` (a dated version); ``None`` when unknown."""
        if model in self._prices:
            return self._prices[model]
        if model.split(":", 1)[0] in FREE_PROVIDERS and ":" in model:
            return FREE
        name = provider_model_name(model)
        if name in self._prices:
            return self._prices[name]
        prefixes = [k for k in self._prices if name.startswith(k + "-")]
        return self._prices[max(prefixes, key=len)] if prefixes else None

    def quote(self, model: str, usage: Usage) -> Quote:
        price = self.price(model)
        if price is None:
            return Quote(cost=Decimal(0), priced=False)
        return Quote(cost=price.cost(usage), priced=True)

    def cost(self, model: str, usage: Usage) -> Decimal:
        """What ``usage`` cost on ``model``; 0 for an unknown model (see ``quote``)."""
        return self.quote(model, usage).cost


class CostedModel(ModelWrapper):
    """Fills ``response.cost`` from ``table``, pricing the model that answered
    (``response.model``, else this model's id). Names it could not price are collected in
    ``unpriced`` so a caller can warn once."""

    def __init__(self, inner: Model, table: PriceTable) -> None:
        super().__init__(inner)
        self.table = table
        self.unpriced: set[str] = set()

    def _costed(self, response: ModelResponse) -> ModelResponse:
        model = response.model or self.id
        quote = self.table.quote(model, response.usage)
        if not quote.priced:
            self.unpriced.add(model)
        return replace(response, cost=quote.cost)

    async def request(self, request: ModelRequest) -> ModelResponse:
        return self._costed(await self.inner.request(request))

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        async for event in self._inner_stream(request):
            if isinstance(event, StreamDone):
                event = StreamDone(response=self._costed(event.response))
            yield event
