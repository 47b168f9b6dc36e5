"""Provider resilience wrappers: retry, breaker, rate limit, fallback, cache, pricing."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.errors import (
    ConfigError,
    ModelError,
    ModelOutputError,
    ModelRateLimited,
    ModelTransientError,
    ModelUnavailable,
)
from tether.models.base import Model, StreamingModel
from tether.models.resilience import (
    DEFAULT_PRICES,
    BreakerModel,
    CachedModel,
    CircuitBreaker,
    CostedModel,
    FallbackModel,
    Price,
    PriceTable,
    RateLimitedModel,
    RateLimiter,
    ResponseCache,
    RetryingModel,
    RetryPolicy,
    provider_model_name,
    request_key,
    resilient,
)
from tether.testing import FakeClock, ScriptedModel, ScriptStep, answer
from tether.types import (
    ModelRequest,
    ModelResponse,
    ModelSettings,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolSpec,
    Usage,
    UserMessage,
)

REQUEST = ModelRequest(messages=(UserMessage(content="hello"),))


def fails(exc: BaseException) -> ScriptStep:
    return ScriptStep(raises=exc)


@dataclass
class Sleeps:
    """A fake sleep that records delays and moves a fake clock."""

    clock: FakeClock | None = None
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


@dataclass
class StreamingScripted:
    """A streaming test double over ``ScriptedModel``: one delta per word, then done."""

    scripted: ScriptedModel

    @property
    def id(self) -> str:
        return self.scripted.id

    async def request(self, request: ModelRequest) -> ModelResponse:
        return await self.scripted.request(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        response = await self.scripted.request(request)
        for word in (response.text or "").split(" "):
            yield TextDelta(text=word)
        yield StreamDone(response=response)


def state_of(breaker: CircuitBreaker) -> str:
    """The state, read afresh (keeps mypy from narrowing a property across calls)."""
    return breaker.state


async def collect(model: Model, request: ModelRequest = REQUEST) -> list[StreamEvent]:
    assert isinstance(model, StreamingModel)
    return [e async for e in model.stream(request)]


# ---------------------------------------------------------------- retry


async def test_retry_honours_retry_after() -> None:
    inner = ScriptedModel(steps=[fails(ModelRateLimited("429", retry_after=2)), answer("ok")])
    sleeps = Sleeps()
    model = RetryingModel(inner, RetryPolicy(), sleep=sleeps)
    response = await model.request(REQUEST)
    assert response.text == "ok"
    assert response.attempts == 2
    assert sleeps.delays == [2]
    inner.assert_consumed()


async def test_retry_after_is_capped_by_max_s() -> None:
    inner = ScriptedModel(steps=[fails(ModelRateLimited("429", retry_after=90)), answer("ok")])
    sleeps = Sleeps()
    await RetryingModel(inner, RetryPolicy(max_s=10), sleep=sleeps).request(REQUEST)
    assert sleeps.delays == [10]


async def test_backoff_grows_and_is_capped_then_last_error_is_raised() -> None:
    errors = [ModelTransientError(f"503 number {i}") for i in range(6)]
    inner = ScriptedModel(steps=[fails(e) for e in errors])
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=6, base_s=1, max_s=5, jitter=0)
    with pytest.raises(ModelTransientError) as info:
        await RetryingModel(inner, policy, sleep=sleeps).request(REQUEST)
    assert info.value is errors[-1]
    assert "failed 6 attempts" in "".join(info.value.__notes__)
    assert sleeps.delays == [1, 2, 4, 5, 5]
    inner.assert_consumed()


async def test_jitter_shortens_the_wait_within_bounds() -> None:
    inner = ScriptedModel(steps=[fails(ModelTransientError("503"))] * 3 + [answer("ok")])
    sleeps = Sleeps()
    policy = RetryPolicy(base_s=1, max_s=30, jitter=0.5)
    response = await RetryingModel(inner, policy, sleep=sleeps, rng=random.Random(7)).request(
        REQUEST
    )
    assert response.attempts == 4
    for delay, full in zip(sleeps.delays, [1, 2, 4], strict=True):
        assert full / 2 <= delay <= full
    assert sleeps.delays != [1, 2, 4]


@pytest.mark.parametrize(
    "error", [ModelOutputError("bad json"), ModelUnavailable("bad key"), ModelError("400")]
)
async def test_no_retry_on_non_transient_errors(error: ModelError) -> None:
    inner = ScriptedModel(steps=[fails(error)])
    sleeps = Sleeps()
    with pytest.raises(type(error)) as info:
        await RetryingModel(inner, RetryPolicy(), sleep=sleeps).request(REQUEST)
    assert info.value is error
    assert sleeps.delays == []
    assert len(inner.requests) == 1


async def test_attempts_add_to_the_inner_responses_attempts() -> None:
    @dataclass
    class Twice:
        inner: ScriptedModel
        id: str = "twice"

        async def request(self, request: ModelRequest) -> ModelResponse:
            response = await self.inner.request(request)
            return ModelResponse(text=response.text, attempts=2)

    inner = Twice(ScriptedModel(steps=[fails(ModelTransientError("timeout")), answer("ok")]))
    response = await RetryingModel(inner, RetryPolicy(), sleep=Sleeps()).request(REQUEST)
    assert response.attempts == 3


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ConfigError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError, match="jitter"):
        RetryPolicy(jitter=2)


async def test_retry_streams_and_retries_before_the_first_event() -> None:
    inner = StreamingScripted(
        ScriptedModel(steps=[fails(ModelTransientError("reset")), answer("a b")])
    )
    model = RetryingModel(inner, RetryPolicy(jitter=0), sleep=Sleeps())
    events = await collect(model)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", "b"]
    done = events[-1]
    assert isinstance(done, StreamDone) and done.response.attempts == 2


def test_wrappers_stream_only_when_the_inner_model_does() -> None:
    plain = ScriptedModel(steps=[])
    streaming = StreamingScripted(plain)
    assert not isinstance(RetryingModel(plain), StreamingModel)
    assert isinstance(RetryingModel(streaming), StreamingModel)
    assert isinstance(RetryingModel(streaming), RetryingModel)
    assert not isinstance(FallbackModel([streaming, plain]), StreamingModel)
    assert isinstance(FallbackModel([streaming, streaming]), StreamingModel)


# ---------------------------------------------------------------- breaker


async def test_breaker_opens_fails_fast_half_opens_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=30, clock=clock)
    inner = ScriptedModel(
        steps=[fails(ModelTransientError("503"))] * 3 + [answer("back")], model_id="openai:x"
    )
    model = BreakerModel(inner, breaker)
    for _ in range(3):
        assert model.state == "closed"
        with pytest.raises(ModelTransientError):
            await model.request(REQUEST)
    assert model.state == "open"

    clock.advance(10)
    with pytest.raises(ModelUnavailable) as info:
        await model.request(REQUEST)
    assert str(info.value) == (
        "circuit breaker for 'openai:x' is open after 3 failures; retry after 20.0 s"
    )
    assert len(inner.requests) == 3  # failed fast: the inner model was not called

    clock.advance(20)
    assert state_of(model.breaker) == "half_open"
    response = await model.request(REQUEST)
    assert response.text == "back"
    assert state_of(breaker) == "closed" and breaker.failures == 0
    inner.assert_consumed()


async def test_breaker_reopens_when_the_probe_fails() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=5, clock=clock)
    inner = ScriptedModel(steps=[fails(ModelUnavailable("down"))] * 2)
    model = BreakerModel(inner, breaker)
    with pytest.raises(ModelUnavailable):
        await model.request(REQUEST)
    clock.advance(5)
    assert state_of(breaker) == "half_open"
    with pytest.raises(ModelUnavailable, match="down"):
        await model.request(REQUEST)
    assert state_of(breaker) == "open"
    assert breaker.retry_after_s == 5
    inner.assert_consumed()


async def test_breaker_ignores_output_errors() -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=FakeClock())
    inner = ScriptedModel(steps=[fails(ModelOutputError("invalid"))] * 2)
    model = BreakerModel(inner, breaker)
    for _ in range(2):
        with pytest.raises(ModelOutputError):
            await model.request(REQUEST)
    assert breaker.state == "closed"
    inner.assert_consumed()


def test_half_open_lets_one_probe_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=1, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()
    assert not breaker.allow()
    breaker.release()
    assert breaker.allow()


_EVENTS = st.one_of(
    st.just(("allow", 0.0)),
    st.just(("success", 0.0)),
    st.just(("failure", 0.0)),
    st.just(("release", 0.0)),
    st.tuples(
        st.just("advance"),
        st.one_of(st.sampled_from([1.0, 5.0, 10.0]), st.floats(min_value=0, max_value=20)),
    ),
)


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=4), st.lists(_EVENTS, max_size=60))
def test_breaker_invariants(threshold: int, events: list[tuple[str, float]]) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=threshold, reset_after_s=10, clock=clock)
    probing = False
    for name, value in events:
        before = breaker.state
        if name == "allow":
            allowed = breaker.allow()
            assert allowed == (before == "closed" or (before == "half_open" and not probing))
        elif name == "success":
            breaker.record_success()
            assert breaker.state == "closed" and breaker.failures == 0
        elif name == "failure":
            failures = breaker.failures
            breaker.record_failure()
            assert breaker.failures == failures + 1
            if before == "half_open" and probing:
                assert breaker.state == "open"
                assert breaker.retry_after_s == pytest.approx(10)
            if before == "closed":
                assert (breaker.state == "closed") == (breaker.failures < threshold)
        elif name == "release":
            breaker.release()
        else:
            clock.advance(value)
        probing = breaker.probing
        state = breaker.state
        assert state in ("closed", "open", "half_open")
        assert 0 <= breaker.retry_after_s <= 10 + 1e-9
        assert (state == "open") == (breaker.retry_after_s > 0 and not probing)
        if state == "closed":
            assert breaker.failures < threshold and not probing
        else:
            assert breaker.failures >= 1
        if probing:
            assert state == "half_open"


async def test_breaker_streams() -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=FakeClock())
    inner = StreamingScripted(ScriptedModel(steps=[fails(ModelTransientError("x")), answer("y")]))
    model = BreakerModel(inner, breaker)
    with pytest.raises(ModelTransientError):
        await collect(model)
    assert breaker.state == "open"
    with pytest.raises(ModelUnavailable, match="is open"):
        await collect(model)


# ---------------------------------------------------------------- rate limit


async def test_rate_limiter_delays_calls_beyond_the_burst() -> None:
    clock = FakeClock()
    sleeps = Sleeps(clock)
    limiter = RateLimiter(2, burst=3, clock=clock, sleep=sleeps)
    inner = ScriptedModel(steps=[answer("ok")], repeat_last=True)
    model = RateLimitedModel(inner, limiter)
    for _ in range(5):
        await model.request(REQUEST)
    assert sleeps.delays == [0.5, 0.5]
    assert len(inner.requests) == 5
    clock.advance(10)  # the bucket refills up to the burst, no further
    for _ in range(4):
        await model.request(REQUEST)
    assert sleeps.delays == [0.5, 0.5, 0.5]


def test_concurrent_reservations_queue_up() -> None:
    limiter = RateLimiter(1, burst=1, clock=FakeClock())
    assert [limiter.reserve() for _ in range(4)] == [0, 1, 2, 3]


# ---------------------------------------------------------------- fallback


async def test_fallback_returns_the_second_models_answer() -> None:
    first = ScriptedModel(steps=[fails(ModelUnavailable("no route\nto host"))], model_id="openai:a")
    second = ScriptedModel(steps=[answer("local answer")], model_id="local:smollm2")
    model = FallbackModel([first, second])
    assert model.id == "openai:a"
    response = await model.request(REQUEST)
    assert response.text == "local answer"
    assert response.model == "local:smollm2"
    assert response.fallbacks == ("openai:a: ModelUnavailable: no route",)


async def test_fallback_moves_on_after_output_errors_too() -> None:
    first = ScriptedModel(steps=[fails(ModelOutputError("bad"))], model_id="a")
    second = ScriptedModel(steps=[answer("ok")], model_id="b")
    response = await FallbackModel([first, second]).request(REQUEST)
    assert response.fallbacks == ("a: ModelOutputError: bad",)


async def test_fallback_all_failing_raises_one_line() -> None:
    models = [
        ScriptedModel(steps=[fails(ModelRateLimited("429"))], model_id="a"),
        ScriptedModel(steps=[fails(ModelTransientError("timeout"))], model_id="b"),
    ]
    with pytest.raises(ModelUnavailable) as info:
        await FallbackModel(models).request(REQUEST)
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        "all 2 models of the fallback chain 'a' failed: a: ModelRateLimited: 429; "
        "b: ModelTransientError: timeout"
    )


async def test_fallback_does_not_catch_bugs() -> None:
    first = ScriptedModel(steps=[fails(KeyError("bug"))], model_id="a")
    second = ScriptedModel(steps=[answer("ok")], model_id="b")
    with pytest.raises(KeyError):
        await FallbackModel([first, second]).request(REQUEST)
    assert second.requests == []


def test_fallback_needs_a_model() -> None:
    with pytest.raises(ConfigError):
        FallbackModel([])


async def test_fallback_streams() -> None:
    first = StreamingScripted(ScriptedModel(steps=[fails(ModelTransientError("x"))], model_id="a"))
    second = StreamingScripted(ScriptedModel(steps=[answer("hi there")], model_id="b"))
    events = await collect(FallbackModel([first, second]))
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert done.response.fallbacks == ("a: ModelTransientError: x",)
    assert done.response.text == "hi there"


# ---------------------------------------------------------------- cache


def _cached(steps: list[ScriptStep], clock: FakeClock) -> tuple[CachedModel, ScriptedModel]:
    inner = ScriptedModel(steps=steps, model_id="openai:gpt-4o")
    return CachedModel(inner, ResponseCache(60, clock=clock)), inner


async def test_second_identical_request_is_a_hit() -> None:
    model, inner = _cached([answer("one")], FakeClock())
    first = await model.request(REQUEST)
    assert not first.cached and first.usage.total_tokens > 0
    second = await model.request(ModelRequest(messages=(UserMessage(content="hello"),)))
    assert second.cached
    assert second.text == "one"
    assert second.usage == Usage()
    assert second.cost == 0
    assert second.attempts == 0
    assert len(inner.requests) == 1


async def test_temperature_above_zero_is_never_cached() -> None:
    model, inner = _cached([answer("one"), answer("two")], FakeClock())
    warm = ModelRequest(messages=REQUEST.messages, settings=ModelSettings(temperature=0.7))
    assert (await model.request(warm)).text == "one"
    assert (await model.request(warm)).text == "two"
    assert len(model.cache) == 0
    inner.assert_consumed()


async def test_cache_entries_expire() -> None:
    clock = FakeClock()
    model, inner = _cached([answer("one"), answer("two")], clock)
    await model.request(REQUEST)
    clock.advance(59)
    assert (await model.request(REQUEST)).cached
    clock.advance(1)
    response = await model.request(REQUEST)
    assert not response.cached and response.text == "two"
    inner.assert_consumed()


async def test_cache_does_not_store_fallback_answers() -> None:
    first = ScriptedModel(steps=[fails(ModelTransientError("x"))] * 2, model_id="a")
    second = ScriptedModel(steps=[answer("b1"), answer("b2")], model_id="b")
    model = CachedModel(FallbackModel([first, second]), ResponseCache(60, clock=FakeClock()))
    assert (await model.request(REQUEST)).text == "b1"
    assert (await model.request(REQUEST)).text == "b2"


def test_cache_is_lru_bounded() -> None:
    cache = ResponseCache(60, clock=FakeClock(), max_entries=2)
    cache.put("a", ModelResponse(text="a"))
    cache.put("b", ModelResponse(text="b"))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", ModelResponse(text="c"))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_cache_key_covers_the_whole_request() -> None:
    base = request_key("m", REQUEST)
    tool = ToolSpec(name="t", description="d", input_schema={"type": "object"})
    variants = [
        request_key("other", REQUEST),
        request_key("m", ModelRequest(messages=(UserMessage(content="hello!"),))),
        request_key("m", ModelRequest(messages=REQUEST.messages, tools=(tool,))),
        request_key("m", ModelRequest(messages=REQUEST.messages, tool_choice="none")),
        request_key("m", ModelRequest(messages=REQUEST.messages, output_schema={"a": 1})),
        request_key("m", ModelRequest(messages=REQUEST.messages, settings=ModelSettings(seed=1))),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert request_key("m", ModelRequest(messages=(UserMessage(content="hello"),))) == base


async def test_cache_streams_a_hit() -> None:
    inner = StreamingScripted(ScriptedModel(steps=[answer("hi there")]))
    model = CachedModel(inner, ResponseCache(60, clock=FakeClock()))
    await collect(model)
    events = await collect(model)
    assert events[0] == TextDelta(text="hi there")
    done = events[-1]
    assert isinstance(done, StreamDone) and done.response.cached


# ---------------------------------------------------------------- pricing


def test_exact_decimal_cost_for_a_known_model() -> None:
    table = PriceTable()
    usage = Usage(input_tokens=1234, output_tokens=567)
    # 1234 * 0.15 / 1e6 + 567 * 0.60 / 1e6
    assert table.cost("openai:gpt-4o-mini", usage) == Decimal("0.0005253")
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == Decimal("0.0005253")
    assert table.cost("openai:gpt-4o", usage) == Decimal("0.008755")


def test_override_wins() -> None:
    table = PriceTable(overrides={"gpt-4o": Price(Decimal(1), Decimal(2))})
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert table.cost("openai:gpt-4o", usage) == Decimal(3)
    assert DEFAULT_PRICES["gpt-4o"].input_per_million == Decimal("2.50")


def test_unknown_model_costs_zero_and_is_flagged() -> None:
    table = PriceTable()
    usage = Usage(input_tokens=10, output_tokens=10)
    quote = table.quote("openai:http://127.0.0.1:8000/v1#qwen2.5", usage)
    assert quote.cost == 0 and not quote.priced
    local = table.quote("local:smollm2", usage)
    assert local.cost == 0 and local.priced


def test_provider_model_name() -> None:
    assert provider_model_name("openai:gpt-4o-mini") == "gpt-4o-mini"
    assert provider_model_name("openai:http://127.0.0.1:8000/v1#qwen2.5") == "qwen2.5"
    assert provider_model_name("claude-sonnet-4") == "claude-sonnet-4"


def test_price_rejects_floats() -> None:
    with pytest.raises(ConfigError, match="Decimal"):
        Price(0.1, Decimal(1))  # type: ignore[arg-type]


async def test_costed_model_fills_cost() -> None:
    inner = ScriptedModel(steps=[answer("ok"), answer("ok")], model_id="anthropic:claude-sonnet-4")
    model = CostedModel(inner, PriceTable())
    response = await model.request(REQUEST)
    usage = response.usage
    assert response.cost == (Decimal(3) * usage.input_tokens + 15 * usage.output_tokens) / 10**6
    assert response.cost > 0
    unknown = CostedModel(ScriptedModel(steps=[answer("ok")], model_id="x:mystery"), PriceTable())
    assert (await unknown.request(REQUEST)).cost == 0
    assert unknown.unpriced == {"x:mystery"}


# ---------------------------------------------------------------- composition


async def test_resilient_composes_in_order() -> None:
    clock = FakeClock()
    sleeps = Sleeps(clock)
    inner = ScriptedModel(
        steps=[fails(ModelRateLimited("429", retry_after=1)), answer("ok")],
        model_id="openai:gpt-4o",
    )
    model = resilient(
        inner,
        breaker=CircuitBreaker(clock=clock),
        limiter=RateLimiter(10, burst=5, clock=clock, sleep=sleeps),
        cache=ResponseCache(60, clock=clock),
        prices=PriceTable(),
        sleep=sleeps,
    )
    layers = []
    current: object = model
    while hasattr(current, "inner"):
        layers.append(type(current).__name__)
        current = current.inner
    assert layers == [
        "CachedModel",
        "CostedModel",
        "BreakerModel",
        "RetryingModel",
        "RateLimitedModel",
    ]
    first = await model.request(REQUEST)
    assert first.attempts == 2 and first.cost > 0 and sleeps.delays == [1]
    second = await model.request(REQUEST)
    assert second.cached and second.cost == 0
    inner.assert_consumed()


def test_resilient_with_nothing_returns_the_model() -> None:
    inner = ScriptedModel(steps=[])
    assert resilient(inner, retry=None) is inner
