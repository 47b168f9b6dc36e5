"""Hosted providers under faults, end to end: a scripted OpenAI-compatible server on 127.0.0.1,
the real openai SDK, tether's retries, breaker, cache and fallback chain, and the journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.openai_stub import Reply, StubServer, completion, stub_server
from tether import Agent, Runtime
from tether.settings import Settings
from tether.testing import ScriptedModel, answer
from tether.types import RunStatus


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with stub_server() as server:
        yield server


def runtime(tmp_path: Path, **settings: Any) -> Runtime:
    values: dict[str, Any] = {"model_retry_base_s": 0.01, "model_timeout_s": 2.0} | settings
    s = Settings(home=tmp_path / "home", workspace=tmp_path, **values)
    return Runtime(settings=s, models={"scripted": ScriptedModel(steps=[answer("from scripted")])})


def hosted(
    stub: StubServer, *, fallback: tuple[str, ...] = (), tools: list[str] | None = None
) -> Agent:
    return Agent(
        name="hosted",
        model=f"openai:{stub.base_url}#stub-1",
        fallback=fallback,
        tools=tools or [],
        preselect_k=4,
    )


def responses(rt: Runtime, run_id: str) -> list[Any]:
    return [e.payload for e in rt.store.journal.read(run_id) if e.kind == "model_response"]


async def test_429_with_retry_after_is_retried_and_journaled(
    tmp_path: Path, stub: StubServer
) -> None:
    stub.queue(
        Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"}),
        Reply(200, completion("hello")),
    )
    rt = runtime(tmp_path)
    result = await rt.run(hosted(stub), "greet")
    assert result.status is RunStatus.SUCCEEDED and result.output == "hello"
    (resp,) = responses(rt, result.run_id)
    assert resp.attempts == 2 and resp.input_tokens == 11
    assert len(stub.requests) == 2
    rt.close()


@pytest.mark.parametrize(
    "fault",
    [
        Reply(503, {"error": {"message": "overloaded"}}),
        Reply(200, "{not json"),
        Reply(200, completion("late"), delay_s=3.0),  # past model_timeout_s=2
    ],
    ids=["5xx", "malformed-json", "timeout"],
)
async def test_transient_faults_exhausted_fall_back_to_the_next_model(
    tmp_path: Path, stub: StubServer, fault: Reply
) -> None:
    stub.queue(*([fault] * 2))
    rt = runtime(tmp_path, model_max_attempts=2)
    result = await rt.run(hosted(stub, fallback=("scripted",)), "greet")
    assert result.status is RunStatus.SUCCEEDED and result.output == "from scripted"
    (resp,) = responses(rt, result.run_id)
    assert resp.model == "scripted"
    assert len(resp.fallbacks) == 1 and resp.fallbacks[0].startswith("openai:")
    assert len(stub.requests) == 2
    rt.close()


async def test_without_a_fallback_the_run_fails_with_a_clear_reason(
    tmp_path: Path, stub: StubServer
) -> None:
    stub.queue(*([Reply(500, {"error": {"message": "boom"}})] * 2))
    rt = runtime(tmp_path, model_max_attempts=2)
    result = await rt.run(hosted(stub), "greet")
    assert result.status is RunStatus.FAILED
    assert "model error" in (result.reason or "") and "\n" not in (result.reason or "")
    rt.close()


async def test_breaker_opens_and_later_runs_fail_fast(tmp_path: Path, stub: StubServer) -> None:
    stub.queue(Reply(500, {"error": {"message": "boom"}}))
    rt = runtime(tmp_path, model_max_attempts=1, breaker_failures=1)
    first = await rt.run(hosted(stub), "greet")
    second = await rt.run(hosted(stub), "greet")
    assert first.status is second.status is RunStatus.FAILED
    assert "circuit breaker" in (second.reason or "")
    assert len(stub.requests) == 1  # the open breaker never called the provider
    rt.close()


async def test_invalid_tool_call_is_repaired_with_feedback(
    tmp_path: Path, stub: StubServer
) -> None:
    bad = completion(tool=("calculator", {"expression": "1+1"}))
    bad["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "{oops"
    stub.queue(
        Reply(200, bad),
        Reply(200, completion(tool=("calculator", {"expression": "1+1"}))),
        Reply(200, completion("2")),
    )
    rt = runtime(tmp_path)
    result = await rt.run(hosted(stub, tools=["calculator"]), "add")
    assert result.status is RunStatus.SUCCEEDED and result.tool_calls == 1
    first = responses(rt, result.run_id)[0]
    assert first.attempts == 2
    assert "invalid" in json.dumps(stub.requests[1]["messages"][-1]).lower()
    rt.close()


async def test_cache_hit_costs_zero_tokens_and_is_marked(tmp_path: Path, stub: StubServer) -> None:
    stub.queue(Reply(200, completion("cached answer")))
    rt = runtime(tmp_path)
    first = await rt.run(hosted(stub), "same goal")
    second = await rt.run(hosted(stub), "same goal")
    assert first.output == second.output == "cached answer"
    (hit,) = responses(rt, second.run_id)
    assert hit.cached and hit.input_tokens == hit.output_tokens == 0
    assert second.usage.total_tokens == 0
    assert not responses(rt, first.run_id)[0].cached
    assert len(stub.requests) == 1
    rt.close()


def test_unreachable_endpoint_is_a_one_line_failure(tmp_path: Path) -> None:
    env = os.environ | {"TETHER_HOME": str(tmp_path / "home"), "TETHER_MODEL_RETRY_BASE_S": "0"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether.cli",
            "run",
            "hi",
            "--model",
            "openai:http://127.0.0.1:9/v1#nothing",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "failed"
    assert "cannot reach openai endpoint http://127.0.0.1:9/v1" in result["reason"]
    assert "\n" not in result["reason"]


@pytest.mark.model
async def test_fallback_to_the_local_model_completes_the_run(
    tmp_path: Path, stub: StubServer
) -> None:
    stub.queue(*([Reply(503, {"error": {"message": "down"}})] * 2))
    rt = runtime(tmp_path, model_max_attempts=2)
    result = await rt.run(hosted(stub, fallback=("local:smollm2",)), "Say hello.")
    assert result.status is RunStatus.SUCCEEDED and result.output
    (resp,) = responses(rt, result.run_id)
    assert resp.model == "local:smollm2" and resp.fallbacks
    rt.close()


async def test_cost_of_every_call_is_charged_to_the_run(tmp_path: Path, stub: StubServer) -> None:
    stub.queue(Reply(200, completion("priced", prompt_tokens=1000, completion_tokens=500)))
    rt = runtime(tmp_path)
    agent = Agent(name="priced", model=f"openai:{stub.base_url}#gpt-4o-mini")
    result = await rt.run(agent, "price me")
    # gpt-4o-mini list price: 0.15 in / 0.60 out per million tokens
    assert result.cost == Decimal("0.00045")
    assert Decimal(responses(rt, result.run_id)[0].cost) == Decimal("0.00045")
    assert rt.store.runs.get(result.run_id).cost == Decimal("0.00045")
    rt.close()


async def test_price_overrides_from_settings(tmp_path: Path, stub: StubServer) -> None:
    stub.queue(Reply(200, completion("priced", prompt_tokens=1_000_000, completion_tokens=0)))
    rt = runtime(tmp_path, prices={"stub-model": (Decimal("2"), Decimal("8"))})
    result = await rt.run(Agent(name="p", model=f"openai:{stub.base_url}#stub-model"), "x")
    assert result.cost == Decimal("2")
    rt.close()


async def test_rate_limit_spaces_calls(tmp_path: Path, stub: StubServer) -> None:
    stub.queue(Reply(200, completion("a")), Reply(200, completion("b")))
    rt = runtime(tmp_path, model_rate_limit_qps=2.0, cache_ttl_s=0)
    started = time.monotonic()
    await rt.run(hosted(stub), "one")
    await rt.run(hosted(stub), "two")
    assert len(stub.requests) == 2
    assert time.monotonic() - started >= 0.45  # the second call waited for a token
    rt.close()
