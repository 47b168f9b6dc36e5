"""The executor: timeouts, retries, structured errors, output checks and control signals."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tether.errors import (
    ApprovalRequired,
    Cancelled,
    ToolArgumentError,
    TransientToolError,
    UnknownToolError,
)
from tether.tools import (
    PreparedCall,
    RetryPolicy,
    Tool,
    ToolContext,
    ToolExecutor,
    ToolRegistry,
    to_jsonable,
    tool,
)
from tether.types import ToolCall

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_s=0.01, max_backoff_s=0.02)


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def prepare(t: Tool, **arguments: Any) -> PreparedCall:
    registry = ToolRegistry([t])
    return ToolExecutor().prepare(registry, ToolCall(id="call-1", name=t.name, arguments=arguments))


async def test_sync_tool_timeout_abandons_the_thread(ctx: ToolContext) -> None:
    release = threading.Event()

    @tool(timeout_ms=50, retry=RetryPolicy(max_attempts=1))
    def stuck() -> str:
        """Blocks until released."""
        release.wait(5)
        return "late"

    started = time.perf_counter()
    outcome = await ToolExecutor().execute(prepare(stuck), ctx)
    elapsed = time.perf_counter() - started
    release.set()
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error["code"] == "timeout"
    assert outcome.error["timeout_ms"] == 50
    assert outcome.attempts == 1
    assert elapsed < 2.0  # abandoned, not awaited for 5 s


async def test_async_tool_timeout(ctx: ToolContext) -> None:
    @tool(timeout_ms=30, retry=RetryPolicy(max_attempts=1))
    async def slow() -> str:
        """Sleeps too long."""
        await asyncio.sleep(5)
        return "late"

    outcome = await ToolExecutor().execute(prepare(slow), ctx)
    assert outcome.error is not None and outcome.error["code"] == "timeout"


async def test_timeouts_of_read_tools_are_retried(ctx: ToolContext) -> None:
    calls = 0

    @tool(timeout_ms=30, retry=FAST_RETRY)
    async def flaky_slow() -> str:
        """Slow the first time."""
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        return "ok"

    sleep = RecordingSleep()
    outcome = await ToolExecutor(sleep=sleep).execute(prepare(flaky_slow), ctx)
    assert (outcome.ok, outcome.result, outcome.attempts) == (True, "ok", 2)
    assert len(sleep.delays) == 1


async def test_timed_out_non_idempotent_write_is_not_retried(ctx: ToolContext) -> None:
    calls = 0

    @tool(timeout_ms=30, retry=FAST_RETRY, side_effect="write")
    async def pay() -> str:
        """Pays, slowly."""
        nonlocal calls
        calls += 1
        await asyncio.sleep(5)
        return "paid"

    outcome = await ToolExecutor(sleep=RecordingSleep()).execute(prepare(pay), ctx)
    assert outcome.error is not None and outcome.error["code"] == "timeout"
    assert (outcome.attempts, calls) == (1, 1)


async def test_transient_errors_are_retried_with_backoff(ctx: ToolContext) -> None:
    calls = 0

    @tool(retry=RetryPolicy(max_attempts=4, backoff_s=0.1, max_backoff_s=10))
    def flaky() -> dict[str, int]:
        """Fails twice."""
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientToolError("upstream busy", tool="flaky")
        return {"calls": calls}

    sleep = RecordingSleep()
    outcome = await ToolExecutor(sleep=sleep).execute(prepare(flaky), ctx)
    assert outcome.ok
    assert outcome.result == {"calls": 3}
    assert outcome.attempts == 3
    assert len(sleep.delays) == 2
    assert 0.05 <= sleep.delays[0] <= 0.1
    assert 0.1 <= sleep.delays[1] <= 0.2


async def test_retries_stop_at_max_attempts(ctx: ToolContext) -> None:
    @tool(retry=FAST_RETRY)
    async def always_busy() -> str:
        """Always busy."""
        raise TransientToolError("still busy", tool="always_busy")

    sleep = RecordingSleep()
    outcome = await ToolExecutor(sleep=sleep).execute(prepare(always_busy), ctx)
    assert not outcome.ok
    assert outcome.error == {"code": "transient", "message": "still busy"}
    assert outcome.attempts == 3
    assert len(sleep.delays) == 2


async def test_generic_exception_becomes_structured_error(ctx: ToolContext) -> None:
    calls = 0

    @tool(retry=FAST_RETRY)
    def broken(x: int) -> int:
        """Divides by zero."""
        nonlocal calls
        calls += 1
        return x // 0

    outcome = await ToolExecutor(sleep=RecordingSleep()).execute(prepare(broken, x=1), ctx)
    assert not outcome.ok
    assert outcome.result is None
    assert outcome.error is not None
    assert outcome.error["code"] == "tool_error"
    assert outcome.error["message"] == "ZeroDivisionError: integer division or modulo by zero"
    assert "Traceback" not in json.dumps(outcome.error)
    assert (outcome.attempts, calls) == (1, 1)  # not retried


async def test_tool_argument_error_from_inside_the_tool(ctx: ToolContext) -> None:
    @tool
    def picky(x: int) -> int:
        """Rejects odd numbers."""
        if x % 2:
            raise ToolArgumentError("x must be even; pass an even number", tool="picky")
        return x

    outcome = await ToolExecutor().execute(prepare(picky, x=3), ctx)
    assert outcome.error == {
        "code": "invalid_arguments",
        "message": "x must be even; pass an even number",
    }


async def test_output_schema_violation(ctx: ToolContext) -> None:
    @tool(
        output_schema={
            "type": "object",
            "required": ["n"],
            "properties": {"n": {"type": "integer"}},
        }
    )
    def counts() -> dict[str, str]:
        """Returns the wrong type."""
        return {"n": "three"}

    outcome = await ToolExecutor().execute(prepare(counts), ctx)
    assert outcome.error is not None
    assert outcome.error["code"] == "invalid_output"
    assert outcome.error["errors"][0]["path"] == "$.n"


async def test_context_is_injected(ctx: ToolContext) -> None:
    @tool
    def whoami(context: ToolContext, greeting: str) -> str:
        """Says who runs."""
        return f"{greeting} {context.run_id} {context.call_id}"

    outcome = await ToolExecutor().execute(prepare(whoami, greeting="hi"), ctx)
    assert outcome.result == "hi run-1 call-1"


@pytest.mark.parametrize("signal", [Cancelled, ApprovalRequired])
async def test_control_signals_propagate_from_async_tools(
    ctx: ToolContext, signal: type[BaseException]
) -> None:
    @tool
    async def steer() -> str:
        """Raises a control signal."""
        raise signal("stop")

    with pytest.raises(signal):
        await ToolExecutor().execute(prepare(steer), ctx)


async def test_control_signal_propagates_from_sync_tool(ctx: ToolContext) -> None:
    @tool
    def steer_sync() -> str:
        """Raises a control signal in a worker thread."""
        raise ApprovalRequired("needs a human")

    with pytest.raises(ApprovalRequired):
        await ToolExecutor().execute(prepare(steer_sync), ctx)


async def test_cancellation_propagates(ctx: ToolContext) -> None:
    started = asyncio.Event()

    @tool
    async def waits() -> str:
        """Waits forever."""
        started.set()
        await asyncio.sleep(60)
        return "never"

    task = asyncio.create_task(ToolExecutor().execute(prepare(waits), ctx))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_tools_own_timeout_error_is_not_a_tool_timeout(ctx: ToolContext) -> None:
    @tool
    async def inner_timeout() -> str:
        """Its dependency times out."""
        raise TimeoutError("db")

    outcome = await ToolExecutor().execute(prepare(inner_timeout), ctx)
    assert outcome.error is not None
    assert (outcome.error["code"], outcome.error["message"]) == ("tool_error", "TimeoutError: db")


async def test_latency_uses_injected_clock(ctx: ToolContext) -> None:
    ticks = iter([10.0, 10.25])

    @tool
    def quick() -> int:
        """Quick."""
        return 1

    outcome = await ToolExecutor(clock=lambda: next(ticks)).execute(prepare(quick), ctx)
    assert outcome.latency_ms == pytest.approx(250.0)


def test_prepare_resolves_and_validates() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Adds."""
        return a + b

    registry = ToolRegistry([add])
    executor = ToolExecutor()
    prepared = executor.prepare(
        registry, ToolCall(id="1", name="functions.ADD", arguments={"a": 1, "b": 2})
    )
    assert prepared.tool is add
    assert prepared.arguments == {"a": 1, "b": 2}
    with pytest.raises(UnknownToolError):
        executor.prepare(registry, ToolCall(id="2", name="subtract", arguments={}))


@dataclasses.dataclass
class Point:
    x: int
    where: Path


class Model(BaseModel):
    amount: Decimal


def test_to_jsonable() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    value = {
        "point": Point(x=1, where=Path("/tmp/a")),
        "model": Model(amount=Decimal("1.50")),
        "money": Decimal("0.10"),
        "when": when,
        "tags": {3, 1, 2},
        "pair": (1, "a"),
        1: float("inf"),
        "other": object,
    }
    out = to_jsonable(value)
    json.dumps(out, allow_nan=False)
    assert out["point"] == {"x": 1, "where": "/tmp/a"}
    assert out["model"] == {"amount": "1.50"}
    assert out["money"] == "0.10"
    assert out["when"] == "2024-01-02T03:04:05+00:00"
    assert out["tags"] == [1, 2, 3]
    assert out["pair"] == [1, "a"]
    assert out["1"] == "inf"
    assert out["other"] == repr(object)


async def test_results_are_made_jsonable(ctx: ToolContext) -> None:
    @tool
    def when() -> dt.date:
        """Returns a date."""
        return dt.date(2024, 5, 6)

    outcome = await ToolExecutor().execute(prepare(when), ctx)
    assert outcome.result == "2024-05-06"
