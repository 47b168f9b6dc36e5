"""Per-tool resilience: breaker, rate limit, bulkhead, read cache and fallback tools."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tether.errors import ConfigError, ToolError, TransientToolError
from tether.testing.clock import FakeClock
from tether.tools import RetryPolicy, Tool, ToolContext, ToolExecutor, ToolRegistry, tool
from tether.tools.executor import ToolOutcome
from tether.tools.resilience import (
    BulkheadTools,
    FallbackTools,
    ResilientOutcome,
    ResilientToolExecutor,
)
from tether.types import ToolCall

ONCE = RetryPolicy(max_attempts=1)


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class VirtualSleep:
    """Sleeps in fake time: yields once, then moves ``clock`` forward to the wake-up time."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    async def __call__(self, delay: float) -> None:
        wake = self.clock.monotonic() + delay
        await asyncio.sleep(0)
        if wake > self.clock.monotonic():
            self.clock.advance(wake - self.clock.monotonic())


def make(
    *tools: Tool, clock: FakeClock | None = None, **options: Any
) -> tuple[ResilientToolExecutor, ToolRegistry]:
    clock = clock or FakeClock()
    options.setdefault("sleep", RecordingSleep())
    inner = ToolExecutor(sleep=RecordingSleep())
    return ResilientToolExecutor(inner, clock=clock, **options), ToolRegistry(tools)


async def run(
    executor: ResilientToolExecutor,
    registry: ToolRegistry,
    ctx: ToolContext,
    name: str,
    **arguments: Any,
) -> ToolOutcome:
    prepared = executor.prepare(registry, ToolCall(id="call-1", name=name, arguments=arguments))
    return await executor.execute(prepared, ctx)


def code(outcome: ToolOutcome) -> str:
    assert outcome.error is not None, outcome
    return str(outcome.error["code"])


async def test_timeout_is_a_structured_error_the_breaker_counts(ctx: ToolContext) -> None:
    calls = 0

    @tool(timeout_ms=20, retry=ONCE)
    async def slow() -> str:
        """Never answers in time."""
        nonlocal calls
        calls += 1
        await asyncio.sleep(5)
        return "late"

    executor, registry = make(slow, breaker_failures=2)
    first = await run(executor, registry, ctx, "slow")
    assert not first.ok
    assert code(first) == "timeout"
    assert executor.states() == {"slow": "closed"}
    assert code(await run(executor, registry, ctx, "slow")) == "timeout"
    assert executor.states() == {"slow": "open"}
    refused = await run(executor, registry, ctx, "slow")
    assert code(refused) == "circuit_open"
    assert refused.attempts == 0
    assert calls == 2


async def test_transient_errors_are_retried_by_the_inner_executor(ctx: ToolContext) -> None:
    calls = 0

    @tool(retry=RetryPolicy(max_attempts=3, backoff_s=0.01))
    def flaky() -> str:
        """Fails twice, then works."""
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientToolError("upstream hiccup")
        return "fine"

    executor, registry = make(flaky, breaker_failures=1)
    outcome = await run(executor, registry, ctx, "flaky")
    assert outcome.ok
    assert outcome.result == "fine"
    assert outcome.attempts == 3
    assert executor.states() == {"flaky": "closed"}  # one logical call, which succeeded


async def test_breaker_opens_then_half_opens_and_closes(ctx: ToolContext) -> None:
    clock = FakeClock()
    calls = 0
    broken = True

    @tool(retry=ONCE)
    def fragile() -> str:
        """Fails while broken."""
        nonlocal calls
        calls += 1
        if broken:
            raise RuntimeError("backend down")
        return "up"

    executor, registry = make(fragile, clock=clock, breaker_failures=3, breaker_reset_s=30.0)
    for _ in range(3):
        assert code(await run(executor, registry, ctx, "fragile")) == "tool_error"
    assert executor.states() == {"fragile": "open"}

    refused = await run(executor, registry, ctx, "fragile")
    assert refused.error == {
        "code": "circuit_open",
        "message": "tool 'fragile' is failing (3 errors); it is paused for 30 s "
        "— use another tool or answer without it",
        "retry_after_s": 30.0,
    }
    assert calls == 3

    clock.advance(10)
    assert (await run(executor, registry, ctx, "fragile")).error["retry_after_s"] == 20.0  # type: ignore[index]
    clock.advance(20)
    assert executor.states() == {"fragile": "half_open"}
    assert code(await run(executor, registry, ctx, "fragile")) == "tool_error"  # probe fails
    assert executor.states() == {"fragile": "open"}
    assert calls == 4

    clock.advance(30)
    broken = False
    probe = await run(executor, registry, ctx, "fragile")
    assert probe.ok
    assert probe.result == "up"
    assert executor.states() == {"fragile": "closed"}
    assert calls == 5


async def test_output_schema_violation_is_a_model_actionable_error(ctx: ToolContext) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

    @tool(output_schema=schema, retry=ONCE)
    def count() -> dict[str, Any]:
        """Returns a count."""
        return {"n": "many"}

    executor, registry = make(count, breaker_failures=1)
    outcome = await run(executor, registry, ctx, "count")
    assert not outcome.ok
    assert code(outcome) == "invalid_output"
    assert outcome.error is not None
    assert "'count'" in outcome.error["message"]
    assert "output schema" in outcome.error["message"]
    assert outcome.error["errors"][0]["path"] == "$.n"
    # the tool answered: a schema violation does not open the breaker
    assert executor.states() == {"count": "closed"}


async def test_rate_limit_spreads_a_burst_over_fake_time(ctx: ToolContext) -> None:
    clock = FakeClock()
    ran_at: list[float] = []

    @tool(rate_limit_qps=5)
    async def lookup(i: int) -> int:
        """A rate-limited lookup."""
        ran_at.append(clock.monotonic())
        return i

    executor, registry = make(lookup, clock=clock, sleep=VirtualSleep(clock))
    outcomes = await asyncio.gather(
        *(run(executor, registry, ctx, "lookup", i=i) for i in range(50))
    )
    assert all(o.ok for o in outcomes)
    assert sorted(o.result for o in outcomes) == list(range(50))
    assert len(ran_at) == 50
    # burst of 5 at once, then one call every 0.2 s: the 50th runs at (50 - 5) / 5 = 9.0 s
    assert max(ran_at) - min(ran_at) == pytest.approx(9.0)
    ordered = sorted(ran_at)
    assert ordered[:5] == [0.0] * 5
    for i in range(5, 50):
        assert ordered[i] == pytest.approx((i - 4) / 5)
    # never more than 5 calls start in any 1 s window after the first burst
    for t in ordered[5:]:
        assert sum(1 for u in ordered[5:] if t <= u < t + 1 - 1e-9) <= 5


async def test_bulkhead_caps_concurrent_calls_per_tool(ctx: ToolContext) -> None:
    active = 0
    peak = 0

    @tool
    async def busy(i: int) -> int:
        """Holds a slot for a moment."""
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return i

    executor, registry = make(busy, max_concurrent={"busy": 2})
    outcomes = await asyncio.gather(*(run(executor, registry, ctx, "busy", i=i) for i in range(8)))
    assert all(o.ok for o in outcomes)
    assert peak == 2

    peak = 0
    unlimited, registry = make(busy)
    await asyncio.gather(*(run(unlimited, registry, ctx, "busy", i=i) for i in range(8)))
    assert peak == 8  # the cap above came from the bulkhead, not from the test


def test_bulkhead_rejects_a_zero_limit() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        BulkheadTools(ToolExecutor(), {"busy": 0})


async def test_cache_serves_idempotent_reads_and_never_writes(ctx: ToolContext) -> None:
    clock = FakeClock()
    reads = 0
    writes = 0

    @tool(side_effect="read", idempotent=True)
    def weather(city: str) -> dict[str, Any]:
        """Reads the weather."""
        nonlocal reads
        reads += 1
        return {"city": city, "temp": reads}

    @tool(side_effect="write", idempotent=True)
    def save(city: str) -> str:
        """Writes something."""
        nonlocal writes
        writes += 1
        return f"saved {city}"

    executor, registry = make(weather, save, clock=clock, cache_ttl_s=60.0)
    first = await run(executor, registry, ctx, "weather", city="Oslo")
    assert first.ok
    assert not getattr(first, "cached", False)
    hit = await run(executor, registry, ctx, "weather", city="Oslo")
    assert isinstance(hit, ResilientOutcome)
    assert hit.cached
    assert hit.attempts == 0
    assert hit.result == first.result == {"city": "Oslo", "temp": 1}
    assert reads == 1

    assert (await run(executor, registry, ctx, "weather", city="Rome")).result["temp"] == 2
    clock.advance(61)
    expired = await run(executor, registry, ctx, "weather", city="Oslo")
    assert not getattr(expired, "cached", False)
    assert expired.result == {"city": "Oslo", "temp": 3}

    for _ in range(2):
        outcome = await run(executor, registry, ctx, "save", city="Oslo")
        assert outcome.ok
        assert not getattr(outcome, "cached", False)
    assert writes == 2


async def test_read_without_idempotent_flag_is_not_cached(ctx: ToolContext) -> None:
    calls = 0

    @tool(side_effect="read")
    def now() -> int:
        """Reads a counter."""
        nonlocal calls
        calls += 1
        return calls

    executor, registry = make(now)
    results = [(await run(executor, registry, ctx, "now")).result for _ in range(2)]
    assert results == [1, 2]


async def test_fallback_tool_is_used_when_the_primary_fails(ctx: ToolContext) -> None:
    primary_calls = 0

    @tool(retry=ONCE)
    def primary_search(q: str) -> str:
        """The main search."""
        nonlocal primary_calls
        primary_calls += 1
        raise ToolError("search backend is down")

    @tool
    def backup_search(q: str) -> str:
        """The backup search."""
        return f"backup: {q}"

    executor, registry = make(
        primary_search,
        backup_search,
        breaker_failures=1,
        fallbacks={"primary_search": "backup_search"},
    )
    outcome = await run(executor, registry, ctx, "primary_search", q="cats")
    assert isinstance(outcome, ResilientOutcome)
    assert outcome.ok
    assert outcome.result == "backup: cats"
    assert outcome.fallback_from == "primary_search"
    assert outcome.primary_error is not None
    assert outcome.primary_error["code"] == "tool_error"

    # the primary's breaker is open now: the fallback answers without calling it
    again = await run(executor, registry, ctx, "primary_search", q="dogs")
    assert isinstance(again, ResilientOutcome)
    assert again.result == "backup: dogs"
    assert again.primary_error is not None
    assert again.primary_error["code"] == "circuit_open"
    assert primary_calls == 1
    assert executor.states() == {"backup_search": "closed", "primary_search": "open"}


async def test_fallback_with_other_arguments_returns_the_primary_error(ctx: ToolContext) -> None:
    @tool(retry=ONCE)
    def geocode(address: str) -> str:
        """Geocodes an address."""
        raise ToolError("geocoder is down")

    @tool
    def geocode_latlon(lat: float, lon: float) -> str:
        """Needs coordinates."""
        return "never"

    executor, registry = make(geocode, geocode_latlon, fallbacks={"geocode": "geocode_latlon"})
    outcome = await run(executor, registry, ctx, "geocode", address="1 Main St")
    assert not outcome.ok
    assert code(outcome) == "tool_error"
    assert outcome.error is not None
    assert outcome.error["message"] == "geocoder is down"
    assert getattr(outcome, "fallback_from", None) is None


def test_a_tool_cannot_fall_back_to_itself() -> None:
    with pytest.raises(ConfigError, match="fallback"):
        FallbackTools(ToolExecutor(), {"a": "a"})


async def test_cancellation_releases_a_half_open_probe(ctx: ToolContext) -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    broken = True

    @tool(retry=ONCE)
    async def remote() -> str:
        """A remote call."""
        if broken:
            raise RuntimeError("down")
        await gate.wait()
        return "ok"

    executor, registry = make(remote, clock=clock, breaker_failures=1, breaker_reset_s=5.0)
    assert code(await run(executor, registry, ctx, "remote")) == "tool_error"
    clock.advance(5)
    broken = False
    probe = asyncio.ensure_future(run(executor, registry, ctx, "remote"))
    await asyncio.sleep(0.01)
    busy = await run(executor, registry, ctx, "remote")  # the probe holds the half-open slot
    assert code(busy) == "circuit_open"
    assert "probe" in busy.error["message"]  # type: ignore[index]
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert executor.states() == {"remote": "half_open"}
    gate.set()
    assert (await run(executor, registry, ctx, "remote")).ok
    assert executor.states() == {"remote": "closed"}
