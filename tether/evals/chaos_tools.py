"""Chaos scenarios for tools: timeouts and errors of Python tools, and HTTP tools against the
fault server (429 with Retry-After, 5xx on reads and writes, malformed and oversize bodies).

The model is scripted (``ScriptedModel``), so each run's path is fixed and the only thing
that varies is the fault. Effects are counted where they happen: Python tools append to a
file, HTTP writes are counted by the server (once per ``Idempotency-Key``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import yaml

from tether.agent.spec import Agent, Limits
from tether.errors import TransientToolError
from tether.evals.chaos import ChaosEnv, EffectLog, Observed, Scenario
from tether.evals.faults import Fault
from tether.events import Event, ToolCallFinished
from tether.runtime import Runtime
from tether.settings import Settings
from tether.testing.scripted import ScriptedModel, ScriptStep, answer, call
from tether.tools import RetryPolicy, Tool, ToolExecutor, tool
from tether.tools.http import load_http_tools
from tether.tools.resilience import ResilientToolExecutor
from tether.types import RunStatus


class RecordingSleep:
    """The executor's sleep: really waits, and remembers each wait (Retry-After checks)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.waits.append(delay)
        await asyncio.sleep(delay)


def chaos_settings(env: ChaosEnv, **extra: Any) -> Settings:
    """Fast retries and no response cache: every model request reaches the fault server."""
    values: dict[str, Any] = {
        "home": env.folder / "home",
        "workspace": env.folder,
        "policies": env.folder / "policies",
        "cache_ttl_s": 0,
        "model_retry_base_s": 0.01,
        "model_max_attempts": 3,
        **extra,
    }
    return Settings(**values)


async def run_agent(
    env: ChaosEnv,
    tools: Sequence[Tool],
    goal: str,
    model: str | Sequence[ScriptStep],
    *,
    sleep: RecordingSleep | None = None,
) -> tuple[RunStatus, str | None, list[Event]]:
    """Run an agent with ``tools`` on ``goal`` with a model id (resolved and wrapped as in
    production) or a script; its final status (read back from the store), its answer and
    its journal."""
    scripted = None if isinstance(model, str) else ScriptedModel(steps=list(model))
    rt = Runtime(
        settings=chaos_settings(env),
        models={} if scripted is None else {scripted.id: scripted},
        executor=ResilientToolExecutor(ToolExecutor(sleep=sleep)),
    )
    agent = Agent(
        name="chaos",
        model=model if isinstance(model, str) else "scripted",
        tools=list(tools),
        limits=Limits(max_steps=8, max_tool_calls=8),
        preselect_k=8,
    )
    try:
        result = await rt.run(agent, goal)
        status = (await asyncio.to_thread(rt.store.runs.get, result.run_id)).status
        events = await asyncio.to_thread(rt.store.journal.read, result.run_id)
    finally:
        rt.close()
    return status, result.output, events


def finished(events: Sequence[Event]) -> list[ToolCallFinished]:
    return [e.payload for e in events if isinstance(e.payload, ToolCallFinished)]


# -- Python tools --------------------------------------------------------------------------


async def timeout_read_retried(env: ChaosEnv) -> Observed:
    attempts = EffectLog(env.folder / "attempts")

    @tool(timeout_ms=1000, retry=RetryPolicy(max_attempts=3, backoff_s=0.01))
    async def weather(city: str) -> dict[str, str]:
        """Look up the weather.

        Args:
            city: the city
        """
        attempts.add(city)
        if attempts.count() == 1:
            await asyncio.sleep(30)  # hangs the first time: the timeout cancels it
        return {"city": city, "sky": "sunny"}

    steps = [call("weather", city="Oslo"), answer("Oslo is sunny.")]
    status, output, events = await run_agent(env, [weather], "Weather in Oslo?", steps)
    (done,) = finished(events)
    return Observed(
        status=status,
        effects=0,
        checks=(
            ("retried after the timeout", done.ok and done.attempts == 2),
            ("answered", output == "Oslo is sunny."),
        ),
    )


async def timeout_write_not_repeated(env: ChaosEnv) -> Observed:
    """A write whose acknowledgement hangs: it is not repeated (it may have happened)."""
    effects = EffectLog(env.folder / "effects")

    @tool(side_effect="write", timeout_ms=1000, retry=RetryPolicy(max_attempts=3, backoff_s=0.01))
    async def book_room(room: str) -> dict[str, str]:
        """Book a meeting room.

        Args:
            room: the room's name
        """
        effects.add(f"book {room}")
        await asyncio.sleep(30)  # the booking is made; its acknowledgement never comes
        return {"room": room}

    steps = [call("book_room", room="Atlas"), answer("The booking may not have gone through.")]
    status, _, events = await run_agent(env, [book_room], "Book the room Atlas.", steps)
    (done,) = finished(events)
    timed_out = not done.ok and done.error is not None and done.error["code"] == "timeout"
    return Observed(
        status=status,
        effects=effects.count("book"),
        checks=(("timed out once, not retried", timed_out and done.attempts == 1),),
    )


async def transient_error_retried(env: ChaosEnv) -> Observed:
    effects = EffectLog(env.folder / "effects")

    @tool(side_effect="write", idempotent=True, retry=RetryPolicy(max_attempts=3, backoff_s=0.01))
    def save_note(text: str) -> dict[str, str]:
        """Save a note.

        Args:
            text: the note
        """
        if len(effects.lines()) < 2:
            effects.add("flake")  # the dependency failed before doing anything
            raise TransientToolError("the note service is busy", tool="save_note")
        effects.add("saved")
        return {"saved": text}

    steps = [call("save_note", text="buy milk"), answer("Saved.")]
    status, _, events = await run_agent(env, [save_note], "Save the note buy milk.", steps)
    (done,) = finished(events)
    return Observed(
        status=status,
        effects=effects.count("saved"),
        checks=(("succeeded on the third attempt", done.ok and done.attempts == 3),),
    )


# -- HTTP tools ----------------------------------------------------------------------------


def http_tools(env: ChaosEnv, timeout_ms: int = 5000, **file: Any) -> dict[str, Tool]:
    """The HTTP tools of a tool file pointing at the fault server (``timeout_ms``: the
    quote's; a first call also builds the client's TLS context, which takes a while)."""
    spec = {
        "base_url": env.server.url,
        "allow": ["127.0.0.1"],
        "tools": [
            {
                "name": "get_quote",
                "description": "Read the price quote for an item.",
                "url": "/read/quote",
                "timeout_ms": timeout_ms,
                "max_attempts": 3,
            },
            {
                "name": "place_order",
                "description": "Place an order for an item (idempotent by key).",
                "method": "POST",
                "url": "/write/order",
                "idempotent": True,
                "input_schema": {"properties": {"item": {"type": "string"}}, "required": ["item"]},
            },
            {
                "name": "send_invoice",
                "description": "Send an invoice for an item (not idempotent).",
                "method": "POST",
                "url": "/write/invoice",
                "input_schema": {"properties": {"item": {"type": "string"}}, "required": ["item"]},
            },
        ],
        **file,
    }
    path = env.folder / "tools.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return {t.name: t for t in load_http_tools(path).tools}


async def _quote(
    env: ChaosEnv, *faults: Fault, timeout_ms: int = 5000, **file: Any
) -> tuple[RunStatus, ToolCallFinished, RecordingSleep]:
    env.server.queue("/read/quote", *faults)
    sleep = RecordingSleep()
    tools = [http_tools(env, timeout_ms, **file)["get_quote"]]
    steps = [call("get_quote"), answer("Here is the quote.")]
    status, _, events = await run_agent(env, tools, "Get the quote.", steps, sleep=sleep)
    (done,) = finished(events)
    return status, done, sleep


def _body(done: ToolCallFinished) -> str:
    return str(done.result.get("body", "")) if isinstance(done.result, dict) else ""


async def http_429_retry_after(env: ChaosEnv) -> Observed:
    slow_down = Fault(status=429, body={"error": "slow down"}, headers={"Retry-After": "0.3"})
    status, done, sleep = await _quote(env, slow_down)
    hits = len(env.server.received("/read/quote"))
    honoured = done.ok and sleep.waits == [0.3] and hits == 2
    return Observed(
        status=status,
        effects=0,
        checks=(("waited the Retry-After", honoured),),
        detail=f"waits {sleep.waits}, {hits} requests, ok {done.ok}",
    )


async def http_503_read_retried(env: ChaosEnv) -> Observed:
    status, done, _ = await _quote(env, Fault(status=503, body={}), Fault(status=502, body=b"gw"))
    hits = len(env.server.received("/read/quote"))
    return Observed(status=status, effects=0, checks=(("third try", done.ok and hits == 3),))


async def http_malformed_body(env: ChaosEnv) -> Observed:
    status, done, _ = await _quote(env, Fault(status=200, body=b'{"value": "12.5", "curr'))
    as_text = done.ok and _body(done) == '{"value": "12.5", "curr'
    return Observed(
        status=status, effects=0, checks=(("cut JSON reaches the model as text", as_text),)
    )


async def http_oversize_body(env: ChaosEnv) -> Observed:
    huge = Fault(status=200, body=b"9" * 2_000_000)
    status, done, _ = await _quote(env, huge, max_response_bytes=4096)
    body = _body(done)
    cut = done.ok and body.startswith("9" * 4096) and body.endswith("exceeded 4096 bytes]")
    return Observed(status=status, effects=0, checks=(("truncated with a marker", cut),))


async def http_slow_read_times_out(env: ChaosEnv) -> Observed:
    """Three answers that come too late: three attempts, then a timeout the model reads."""
    late = Fault(status=200, body={}, delay_s=1.0)
    status, done, _ = await _quote(env, late, late, late, timeout_ms=300)
    gave_up = not done.ok and done.error is not None and done.error["code"] == "timeout"
    return Observed(
        status=status,
        effects=0,
        checks=(("timeout after 3 tries", gave_up and done.attempts == 3),),
    )


async def _order(env: ChaosEnv, name: str, *faults: Fault) -> tuple[RunStatus, ToolCallFinished]:
    path = f"/write/{'order' if name == 'place_order' else 'invoice'}"
    env.server.queue(path, *faults)
    tools = http_tools(env)
    steps = [call(name, item="widget-7"), answer("Done, or reported.")]
    status, _, events = await run_agent(env, [tools[name]], "Order the item widget-7.", steps)
    (done,) = finished(events)
    return status, done


async def http_503_idempotent_write_once(env: ChaosEnv) -> Observed:
    """The order is placed, then the answer is lost (503): the retry with the same key is
    answered from the server's record and places nothing."""
    status, done = await _order(env, "place_order", Fault(status=503, body={}, apply=True))
    keys = {r.headers.get("idempotency-key") for r in env.server.received("/write/order")}
    return Observed(
        status=status,
        effects=env.server.effect_count("order"),
        checks=(("retried with one key", done.ok and done.attempts == 2 and len(keys) == 1),),
    )


async def http_500_write_not_repeated(env: ChaosEnv) -> Observed:
    """A non-idempotent write answered 500 after it happened: not repeated, and the model is
    told the change may have happened."""
    status, done = await _order(env, "send_invoice", Fault(status=500, body={}, apply=True))
    told = done.error is not None and "may or may not have happened" in done.error["message"]
    return Observed(
        status=status,
        effects=env.server.effect_count("invoice"),
        checks=(("one attempt, model told", done.attempts == 1 and told),),
    )


async def http_429_write_retried(env: ChaosEnv) -> Observed:
    status, done = await _order(
        env, "send_invoice", Fault(status=429, body={}, headers={"Retry-After": "0.1"})
    )
    return Observed(
        status=status,
        effects=env.server.effect_count("invoice"),
        checks=(("retried after the 429", done.ok and done.attempts == 2),),
    )


TOOL_SCENARIOS = [
    Scenario(name="tool_timeout_read_retried", fault="tool_timeout", run=timeout_read_retried),
    Scenario(
        name="tool_timeout_write_not_repeated",
        fault="tool_timeout",
        run=timeout_write_not_repeated,
        expected_effects=1,
    ),
    Scenario(
        name="tool_transient_error_retried",
        fault="tool_error",
        run=transient_error_retried,
        expected_effects=1,
    ),
    Scenario(name="http_429_retry_after", fault="http_429", run=http_429_retry_after),
    Scenario(
        name="http_429_write_retried",
        fault="http_429",
        run=http_429_write_retried,
        expected_effects=1,
    ),
    Scenario(name="http_5xx_read_retried", fault="http_5xx", run=http_503_read_retried),
    Scenario(
        name="http_5xx_idempotent_write_once",
        fault="http_5xx",
        run=http_503_idempotent_write_once,
        expected_effects=1,
    ),
    Scenario(
        name="http_5xx_write_not_repeated",
        fault="http_5xx",
        run=http_500_write_not_repeated,
        expected_effects=1,
    ),
    Scenario(name="http_malformed_body", fault="http_malformed", run=http_malformed_body),
    Scenario(name="http_oversize_body", fault="http_oversize", run=http_oversize_body),
    Scenario(name="http_slow_read_times_out", fault="tool_timeout", run=http_slow_read_times_out),
]
