"""Chaos scenarios for the model: an OpenAI-compatible endpoint (the fault server) that fails
(5xx, 429 with Retry-After, a body that is not JSON, down for good) or answers with invalid
output (a call to a tool that does not exist, arguments that are not JSON), and a scripted
model whose calls the runtime must refuse (unknown tool, arguments against the schema).

Through ``openai:http://127.0.0.1:PORT/v1#chaos-1`` a run gets the whole production stack:
the adapter's validation and feedback retries, then retries with backoff and Retry-After.
"""

from __future__ import annotations

from tether.evals.chaos import ChaosEnv, EffectLog, Observed, Scenario
from tether.evals.chaos_tools import finished, run_agent
from tether.evals.faults import Fault, completion
from tether.testing.scripted import answer, call
from tether.tools import Tool, tool
from tether.types import RunStatus

CHAT = "/v1/chat/completions"


def _order_tool(env: ChaosEnv) -> tuple[Tool, EffectLog]:
    effects = EffectLog(env.folder / "effects")

    @tool(side_effect="write", idempotent=True)
    def place_order(item: str) -> dict[str, str]:
        """Place an order for an item.

        Args:
            item: the item's code
        """
        effects.add(f"order {item}")
        return {"ordered": item}

    return place_order, effects


def _order_call() -> Fault:
    return Fault(body=completion(tool=("place_order", {"item": "widget-7"})))


def _done() -> Fault:
    return Fault(body=completion("Ordered widget-7."))


async def _hosted(env: ChaosEnv, *replies: Fault) -> tuple[RunStatus, str | None, EffectLog, int]:
    """Run the order task on the hosted model; the server answers ``replies`` in order."""
    env.server.queue(CHAT, *replies)
    order, effects = _order_tool(env)
    model = f"openai:{env.server.url}/v1#chaos-1"
    status, output, _ = await run_agent(env, [order], "Order the item widget-7.", model)
    return status, output, effects, len(env.server.received(CHAT))


async def model_5xx_retried(env: ChaosEnv) -> Observed:
    status, _, effects, hits = await _hosted(
        env, Fault(status=500, body={"error": {"message": "boom"}}), _order_call(), _done()
    )
    return Observed(status=status, effects=effects.count("order"), checks=(("retried", hits == 3),))


async def model_429_retry_after(env: ChaosEnv) -> Observed:
    limited = Fault(status=429, body={"error": {"message": "rate"}}, headers={"Retry-After": "0"})
    status, _, effects, hits = await _hosted(env, limited, _order_call(), limited, _done())
    return Observed(status=status, effects=effects.count("order"), checks=(("retried", hits == 4),))


async def model_garbage_body(env: ChaosEnv) -> Observed:
    status, _, effects, hits = await _hosted(
        env, Fault(status=200, body=b"<html>proxy error</html>"), _order_call(), _done()
    )
    return Observed(status=status, effects=effects.count("order"), checks=(("retried", hits == 3),))


async def model_unknown_tool(env: ChaosEnv) -> Observed:
    """The model calls ``place_ordr``: the adapter feeds the problem back and asks again."""
    wrong = Fault(body=completion(tool=("place_ordr", {"item": "widget-7"})))
    status, _, effects, hits = await _hosted(env, wrong, _order_call(), _done())
    fed_back = "place_ordr" in str(env.server.received(CHAT)[1].body)
    return Observed(
        status=status,
        effects=effects.count("order"),
        checks=(("fed back", fed_back and hits == 3),),
    )


async def model_malformed_arguments(env: ChaosEnv) -> Observed:
    broken = Fault(body=completion(tool=("place_order", '{"item": "widget-7')))
    status, _, effects, hits = await _hosted(env, broken, _order_call(), _done())
    fed_back = "not JSON" in str(env.server.received(CHAT)[1].body)
    return Observed(
        status=status,
        effects=effects.count("order"),
        checks=(("fed back", fed_back and hits == 3),),
    )


async def model_down_fails_cleanly(env: ChaosEnv) -> Observed:
    """The endpoint never recovers: the run fails with a model error, having done nothing."""
    down = Fault(status=503, body={"error": {"message": "down"}})
    status, _, effects, hits = await _hosted(env, down, down, down)
    return Observed(status=status, effects=effects.count("order"), checks=(("3 tries", hits == 3),))


async def runtime_refuses_unknown_tool(env: ChaosEnv) -> Observed:
    """A model the adapter cannot check (scripted) calls a tool that does not exist: the
    runtime answers with a structured error naming the close match, and the model recovers."""
    order, effects = _order_tool(env)
    steps = [
        call("place_ordr", item="widget-7"),
        call("place_order", item="widget-7"),
        answer("ok"),
    ]
    status, _, events = await run_agent(env, [order], "Order the item widget-7.", steps)
    first = finished(events)[0]
    named = first.error is not None and first.error["code"] == "unknown_tool"
    return Observed(
        status=status,
        effects=effects.count("order"),
        checks=(("unknown_tool names the match", named and "place_order" in str(first.error)),),
    )


async def runtime_refuses_bad_arguments(env: ChaosEnv) -> Observed:
    order, effects = _order_tool(env)
    steps = [
        call("place_order", item=7, colour="red"),
        call("place_order", item="widget-7"),
        answer("ok"),
    ]
    status, _, events = await run_agent(env, [order], "Order the item widget-7.", steps)
    first = finished(events)[0]
    refused = first.error is not None and first.error["code"] == "invalid_arguments"
    return Observed(
        status=status, effects=effects.count("order"), checks=(("invalid_arguments", refused),)
    )


MODEL_SCENARIOS = [
    Scenario(
        name="model_5xx_retried", fault="model_error", run=model_5xx_retried, expected_effects=1
    ),
    Scenario(
        name="model_429_retry_after",
        fault="model_error",
        run=model_429_retry_after,
        expected_effects=1,
    ),
    Scenario(
        name="model_garbage_body", fault="model_error", run=model_garbage_body, expected_effects=1
    ),
    Scenario(
        name="model_down_fails_cleanly",
        fault="model_error",
        run=model_down_fails_cleanly,
        expected_status=RunStatus.FAILED,
    ),
    Scenario(
        name="model_unknown_tool",
        fault="model_invalid_output",
        run=model_unknown_tool,
        expected_effects=1,
    ),
    Scenario(
        name="model_malformed_arguments",
        fault="model_invalid_output",
        run=model_malformed_arguments,
        expected_effects=1,
    ),
    Scenario(
        name="runtime_refuses_unknown_tool",
        fault="model_invalid_output",
        run=runtime_refuses_unknown_tool,
        expected_effects=1,
    ),
    Scenario(
        name="runtime_refuses_bad_arguments",
        fault="model_invalid_output",
        run=runtime_refuses_bad_arguments,
        expected_effects=1,
    ),
]
