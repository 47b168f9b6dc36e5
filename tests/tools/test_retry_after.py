"""Tool retries honour Retry-After (bounded by ``RetryPolicy.max_retry_after_s``), against a
real HTTP server on 127.0.0.1 that answers 429 or 503 with the header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.errors import ConfigError, TransientToolError
from tether.evals.faults import Fault, FaultServer, fault_server
from tether.tools import RetryPolicy, ToolContext, ToolExecutor, ToolRegistry, tool
from tether.tools.http import load_http_tools
from tether.types import ToolCall


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as s:
        yield s


def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(
        run_id="run-1", idempotency_key="run-1:0:0", workspace=tmp_path, call_id="call-1"
    )


async def call_http(
    tmp_path: Path, server: FaultServer, name: str, sleep: RecordingSleep, **spec: Any
) -> Any:
    path = tmp_path / "tools.yaml"
    tools = [
        {"name": "get_quote", "description": "Read a quote.", "url": "/read/quote", **spec},
        {
            "name": "put_order",
            "description": "Place an order.",
            "method": "POST",
            "url": "/write/order",
            **spec,
        },
    ]
    path.write_text(
        yaml.safe_dump({"base_url": server.url, "allow": ["127.0.0.1"], "tools": tools})
    )
    toolset = load_http_tools(path)
    executor = ToolExecutor(sleep=sleep)
    prepared = executor.prepare(
        ToolRegistry(toolset.tools), ToolCall(id="c1", name=name, arguments={})
    )
    return await executor.execute(prepared, ctx(tmp_path))


async def test_a_429_waits_exactly_the_retry_after_then_succeeds(
    tmp_path: Path, server: FaultServer
) -> None:
    server.queue(
        "/read/quote", Fault(status=429, body={"m": "slow down"}, headers={"Retry-After": "2"})
    )
    sleep = RecordingSleep()
    outcome = await call_http(tmp_path, server, "get_quote", sleep)
    assert outcome.ok and outcome.attempts == 2
    assert outcome.result["body"] == {"name": "quote", "value": "fresh quote"}
    assert sleep.delays == [2.0]  # the server's wait, not the 0.05 s backoff
    assert len(server.received("/read/quote")) == 2


async def test_a_503_with_retry_after_on_a_read_is_honoured_too(
    tmp_path: Path, server: FaultServer
) -> None:
    server.queue(
        "/read/quote",
        Fault(status=503, body={}, headers={"Retry-After": "1"}),
        Fault(status=503, body={}, headers={"Retry-After": "3"}),
    )
    sleep = RecordingSleep()
    outcome = await call_http(tmp_path, server, "get_quote", sleep)
    assert outcome.ok and outcome.attempts == 3 and sleep.delays == [1.0, 3.0]


async def test_a_retry_after_beyond_the_cap_gives_up_at_once_and_says_when(
    tmp_path: Path, server: FaultServer
) -> None:
    server.queue("/read/quote", Fault(status=429, body={}, headers={"Retry-After": "600"}))
    sleep = RecordingSleep()
    outcome = await call_http(tmp_path, server, "get_quote", sleep)
    assert not outcome.ok and outcome.attempts == 1 and sleep.delays == []
    assert outcome.error["code"] == "transient" and outcome.error["retry_after_s"] == 600
    assert "retry after 600 s" in outcome.error["message"]
    assert len(server.received("/read/quote")) == 1


async def test_a_429_on_a_write_is_retried_after_the_wait_and_applied_once(
    tmp_path: Path, server: FaultServer
) -> None:
    """429 means the server did not take the request: repeating the write is safe."""
    server.queue("/write/order", Fault(status=429, body={}, headers={"Retry-After": "1"}))
    sleep = RecordingSleep()
    outcome = await call_http(tmp_path, server, "put_order", sleep)
    assert outcome.ok and sleep.delays == [1.0]
    assert server.effect_count("order") == 1


async def test_a_failure_without_retry_after_keeps_the_backoff() -> None:
    failures = iter([TransientToolError("flaky", tool="flaky")])

    @tool(retry=RetryPolicy(max_attempts=2, backoff_s=0.25, max_backoff_s=1.0))
    def flaky() -> str:
        """Fails once."""
        for exc in failures:
            raise exc
        return "ok"

    sleep = RecordingSleep()
    executor = ToolExecutor(sleep=sleep)
    prepared = executor.prepare(ToolRegistry([flaky]), ToolCall(id="c", name="flaky", arguments={}))
    outcome = await executor.execute(prepared, ctx(Path(".")))
    assert outcome.ok and len(sleep.delays) == 1 and 0.125 <= sleep.delays[0] <= 0.25


def test_the_wait_decision_is_pure() -> None:
    policy = RetryPolicy(max_retry_after_s=10)
    assert policy.wait_s(1, 0.0, 4.0) == 4.0
    assert policy.wait_s(1, 0.0, 10.0) == 10.0
    assert policy.wait_s(1, 0.0, 10.5) is None
    assert policy.wait_s(1, 1.0, None) == policy.delay_s(1, 1.0)
    with pytest.raises(ConfigError, match="max_retry_after_s"):
        RetryPolicy(max_retry_after_s=-1)
