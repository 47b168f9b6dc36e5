"""The real embedded model (SmolLM2-135M-Instruct): validity, never correctness of choices."""

from __future__ import annotations

import asyncio
import json

import pytest
from jsonschema import Draft202012Validator

from tether.models import LocalModel, default_model_path
from tether.types import ModelRequest, ModelSettings, SystemMessage, ToolSpec, UserMessage

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def smollm2() -> LocalModel:
    return LocalModel("local:smollm2", default_model_path())


def ask(text: str, **kwargs: object) -> ModelRequest:
    return ModelRequest(messages=(UserMessage(content=text),), **kwargs)  # type: ignore[arg-type]


async def test_answers_a_plain_prompt(smollm2: LocalModel) -> None:
    response = await smollm2.request(
        ask("What is the capital of France?", settings=ModelSettings(max_tokens=32))
    )
    assert response.text
    assert response.tool_calls == ()
    assert response.finish_reason in ("stop", "length")
    assert response.usage.input_tokens > 5
    assert 0 < response.usage.output_tokens <= 32
    assert response.model == "local:smollm2"
    assert response.model_version.startswith("SmolLM2-135M-Instruct.Q4_1.gguf:")
    assert response.cost == 0


async def test_offered_tools_give_a_valid_tool_call(
    smollm2: LocalModel, tools: tuple[ToolSpec, ...]
) -> None:
    request = ModelRequest(
        messages=(
            SystemMessage(content="You solve problems with tools."),
            UserMessage(content="What is 17 * 23?"),
        ),
        tools=tools,
    )
    response = await smollm2.request(request)
    assert len(response.tool_calls) == 1, response
    call = response.tool_calls[0]
    assert call.id == "call_1"
    assert response.finish_reason == "tool_calls"
    schema = {t.name: t.input_schema for t in tools}[call.name]
    assert list(Draft202012Validator(schema).iter_errors(call.arguments)) == []


async def test_output_schema_mode_returns_matching_json(smollm2: LocalModel) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "country": {"type": "string"},
            "population_millions": {"type": "number", "minimum": 0},
        },
        "required": ["city", "country", "population_millions"],
        "additionalProperties": False,
    }
    response = await smollm2.request(ask("Describe Paris.", output_schema=schema))
    value = json.loads(response.text or "")
    assert list(Draft202012Validator(schema).iter_errors(value)) == []


async def test_concurrent_requests_are_serialized(smollm2: LocalModel) -> None:
    prompts = ["Name a color.", "Name a fruit.", "Name an animal.", "Name a country."]
    settings = ModelSettings(max_tokens=16)
    alone = [await smollm2.request(ask(p, settings=settings)) for p in prompts]
    together = await asyncio.gather(*(smollm2.request(ask(p, settings=settings)) for p in prompts))
    assert [r.text for r in together] == [r.text for r in alone]
    assert all(r.text for r in together)


async def test_same_request_gives_the_same_output(
    smollm2: LocalModel, tools: tuple[ToolSpec, ...]
) -> None:
    request = ask("What time is it in Tokyo?", tools=tools)
    first = await smollm2.request(request)
    await smollm2.request(
        ask("Something else, to change the cached prefix.", settings=ModelSettings(max_tokens=8))
    )
    second = await smollm2.request(request)
    assert (first.text, first.tool_calls) == (second.text, second.tool_calls)
