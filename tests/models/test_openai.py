"""``OpenAIModel``: against a real ``llama_cpp.server`` on 127.0.0.1, and against
``httpx.MockTransport`` for errors and retries a real server will not produce on demand."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jsonschema
import pytest

from tests.llama_server import free_port, llama_server_fixture  # noqa: F401  (fixture)
from tether.errors import (
    ModelError,
    ModelOutputError,
    ModelRateLimited,
    ModelTransientError,
    ModelUnavailable,
)
from tether.models.base import Model, StreamingModel
from tether.models.openai import OpenAIModel
from tether.types import (
    AssistantMessage,
    ModelRequest,
    ModelSettings,
    StreamDone,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)

WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather for a city.",
    input_schema={
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 30}},
        "required": ["city"],
    },
)
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
}
SECRET_KEY = "sk-test-1234567890secret"


def _ask(text: str, **kwargs: Any) -> ModelRequest:
    settings = ModelSettings(max_tokens=kwargs.pop("max_tokens", 32))
    return ModelRequest(messages=(UserMessage(content=text),), settings=settings, **kwargs)


# --- against a real llama_cpp.server ----------------------------------------------------


@pytest.fixture
def served(llama_server: str) -> OpenAIModel:
    return OpenAIModel("openai:smollm2", model="smollm2", base_url=llama_server)


async def test_plain_request_returns_text_and_usage(served: OpenAIModel) -> None:
    assert isinstance(served, Model) and isinstance(served, StreamingModel)
    response = await served.request(_ask("Say hello in one short sentence."))
    assert response.text
    assert response.tool_calls == ()
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.finish_reason in ("stop", "length")
    assert response.model == "openai:smollm2"
    assert response.model_version == "smollm2"  # llama_cpp.server echoes the requested name
    assert response.attempts == 1 and response.latency_ms > 0


async def test_required_tool_returns_a_parsed_call(served: OpenAIModel) -> None:
    request = _ask("What is the weather in Paris?", tools=(WEATHER,), tool_choice="required")
    response = await served.request(request)
    assert response.finish_reason == "tool_calls"
    assert len(response.tool_calls) == 1
    call = response.tool_calls[0]
    assert call.name == "get_weather" and call.id
    jsonschema.validate(call.arguments, WEATHER.input_schema)
    assert response.usage.output_tokens > 0


async def test_structured_output_is_valid_for_the_schema(served: OpenAIModel) -> None:
    prompt = "Invent a person: give a name and an age as JSON."
    request = _ask(prompt, output_schema=PERSON, max_tokens=48)
    response = await served.request(request)
    assert response.text is not None
    jsonschema.validate(json.loads(response.text), PERSON)
    assert response.usage.input_tokens > 0


async def test_stream_deltas_add_up_to_the_final_text(served: OpenAIModel) -> None:
    events = [e async for e in served.stream(_ask("Count from one to five.", max_tokens=16))]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert [e for e in events if isinstance(e, StreamDone)] == [done]
    assert deltas and "".join(d.text for d in deltas) == done.response.text
    assert done.response.usage.input_tokens > 0
    assert done.response.usage.output_tokens >= len(deltas) > 0
    assert done.response.model == "openai:smollm2"


async def test_unreachable_endpoint_is_unavailable_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    model = OpenAIModel("openai:x", model="x", base_url=url, timeout_s=5)
    with pytest.raises(ModelUnavailable) as caught:
        await model.request(_ask("hi"))
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"cannot reach openai endpoint {url}: connection refused; check the URL or start the server"
    )


# --- against httpx.MockTransport --------------------------------------------------------


def _completion(
    content: str | None = None, *, tool_calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-test-2025",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
    }


def _call(arguments: str, name: str = "get_weather") -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}


class Replies:
    """Answers each request with the next response; records request bodies."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return self.responses.pop(0)


@pytest.fixture
async def mocked() -> AsyncIterator[Callable[..., OpenAIModel]]:
    clients: list[httpx.AsyncClient] = []

    def build(replies: Replies, **kwargs: Any) -> OpenAIModel:
        client = httpx.AsyncClient(transport=httpx.MockTransport(replies))
        clients.append(client)
        kwargs.setdefault("base_url", "http://127.0.0.1:1/v1")
        return OpenAIModel("openai:test", model="gpt-test", http_client=client, **kwargs)

    yield build
    for client in clients:
        assert not client.is_closed  # the adapter never closes a caller's client
        await client.aclose()


async def test_429_is_rate_limited_with_retry_after(mocked: Callable[..., OpenAIModel]) -> None:
    replies = Replies(
        httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"message": "slow"}})
    )
    with pytest.raises(ModelRateLimited) as caught:
        await mocked(replies).request(_ask("hi"))
    assert caught.value.retry_after == 2.0
    assert len(replies.bodies) == 1  # the SDK's own retries are off


async def test_500_is_transient(mocked: Callable[..., OpenAIModel]) -> None:
    replies = Replies(httpx.Response(500, json={"error": {"message": "boom"}}))
    with pytest.raises(ModelTransientError) as caught:
        await mocked(replies).request(_ask("hi"))
    assert not isinstance(caught.value, ModelRateLimited)
    assert "HTTP 500" in str(caught.value) and "boom" in str(caught.value)
    assert len(replies.bodies) == 1


async def test_malformed_json_body_is_transient(mocked: Callable[..., OpenAIModel]) -> None:
    replies = Replies(
        httpx.Response(200, headers={"content-type": "application/json"}, content=b"{not json")
    )
    with pytest.raises(ModelTransientError, match="not JSON"):
        await mocked(replies).request(_ask("hi"))


async def test_non_json_body_is_transient(mocked: Callable[..., OpenAIModel]) -> None:
    replies = Replies(httpx.Response(200, headers={"content-type": "text/html"}, text="<html>"))
    with pytest.raises(ModelTransientError, match="not a chat completion"):
        await mocked(replies).request(_ask("hi"))


async def test_401_is_unavailable_without_the_key(mocked: Callable[..., OpenAIModel]) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {SECRET_KEY}"}}
    replies = Replies(httpx.Response(401, json=body))
    with pytest.raises(ModelUnavailable) as caught:
        await mocked(replies, api_key=SECRET_KEY).request(_ask("hi"))
    assert "TETHER_OPENAI_API_KEY" in str(caught.value)
    assert SECRET_KEY not in str(caught.value)


async def test_other_4xx_is_a_model_error_without_the_key(
    mocked: Callable[..., OpenAIModel],
) -> None:
    body = {"error": {"message": f"bad request for key {SECRET_KEY}"}}
    replies = Replies(httpx.Response(400, json=body))
    with pytest.raises(ModelError) as caught:
        await mocked(replies, api_key=SECRET_KEY).request(_ask("hi"))
    assert type(caught.value) is ModelError
    assert "HTTP 400" in str(caught.value) and SECRET_KEY not in str(caught.value)


async def test_openai_without_key_is_unavailable() -> None:
    model = OpenAIModel("openai:gpt-4o-mini", model="gpt-4o-mini")
    with pytest.raises(ModelUnavailable, match="TETHER_OPENAI_API_KEY or OPENAI_API_KEY"):
        await model.request(_ask("hi"))


async def test_invalid_tool_arguments_are_retried(mocked: Callable[..., OpenAIModel]) -> None:
    replies = Replies(
        httpx.Response(200, json=_completion(tool_calls=[_call("{city: Paris")])),
        httpx.Response(200, json=_completion(tool_calls=[_call('{"city": "Paris"}')])),
    )
    request = _ask("weather?", tools=(WEATHER,), tool_choice="required")
    response = await mocked(replies).request(request)
    assert response.attempts == 2
    assert response.tool_calls == (
        ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"}),
    )
    assert response.usage.input_tokens == 20 and response.usage.output_tokens == 8
    assert response.model_version == "gpt-test-2025"
    feedback = replies.bodies[1]["messages"][-1]
    assert feedback["role"] == "user" and "invalid" in feedback["content"]
    assert "get_weather" in feedback["content"]
    # "required" with one tool is sent as the named choice
    assert replies.bodies[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }


async def test_schema_invalid_output_three_times_fails(
    mocked: Callable[..., OpenAIModel],
) -> None:
    bad = [
        _completion('{"name": "Ann"}'),  # age missing
        _completion('{"name": "Ann", "age": -3}'),  # below minimum
        _completion("not json"),
    ]
    replies = Replies(*(httpx.Response(200, json=b) for b in bad))
    with pytest.raises(ModelOutputError) as caught:
        await mocked(replies).request(_ask("a person", output_schema=PERSON))
    assert len(replies.bodies) == 3
    assert "3 times" in str(caught.value) and "'age' is a required property" in str(caught.value)
    assert replies.bodies[0]["response_format"]["type"] == "json_schema"
    last = replies.bodies[2]["messages"]
    assert last[-2] == {"role": "assistant", "content": '{"name": "Ann", "age": -3}'}
    assert last[-1]["content"].startswith("Your last output was invalid: -3 is less than")


async def test_rejected_json_schema_falls_back_to_json_object(
    mocked: Callable[..., OpenAIModel],
) -> None:
    rejection = {"error": {"message": "Input should be 'text' or 'json_object', got json_schema"}}
    replies = Replies(
        httpx.Response(500, json=rejection),
        httpx.Response(200, json=_completion('{"name": "Ann", "age": 30}')),
        httpx.Response(200, json=_completion('{"name": "Bo", "age": 31}')),
    )
    model = mocked(replies)
    first = await model.request(_ask("a person", output_schema=PERSON))
    second = await model.request(_ask("a person", output_schema=PERSON))
    assert (first.text, first.attempts) == ('{"name": "Ann", "age": 30}', 1)
    assert second.text == '{"name": "Bo", "age": 31}'
    formats = [body["response_format"] for body in replies.bodies]
    assert [f["type"] for f in formats] == ["json_schema", "json_object", "json_object"]
    assert formats[1]["schema"] == PERSON


async def test_messages_and_tools_are_mapped(mocked: Callable[..., OpenAIModel]) -> None:
    replies = Replies(httpx.Response(200, json=_completion("It is sunny.")))
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo"})
    request = ModelRequest(
        messages=(
            SystemMessage(content="be brief"),
            UserMessage(content="weather in Oslo?"),
            AssistantMessage(tool_calls=(call,)),
            ToolResultMessage(tool_call_id="c1", name="get_weather", content='{"sky": "sun"}'),
        ),
        tools=(WEATHER,),
        settings=ModelSettings(temperature=0.5, max_tokens=20, seed=7),
    )
    response = await mocked(replies).request(request)
    assert (response.text, response.finish_reason) == ("It is sunny.", "stop")
    body = replies.bodies[0]
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"sky": "sun"}'},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER.description,
                "parameters": WEATHER.input_schema,
            },
        }
    ]
    assert (body["tool_choice"], body["temperature"], body["max_tokens"], body["seed"]) == (
        "auto",
        0.5,
        20,
        7,
    )
    assert "response_format" not in body


def _sse(*chunks: dict[str, Any]) -> httpx.Response:
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=text)


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test-2025",
        "choices": [choice],
        **extra,
    }


async def test_stream_uses_the_servers_usage_and_tool_deltas(
    mocked: Callable[..., OpenAIModel],
) -> None:
    first = {"index": 0, "id": "call_9", "type": "function"}
    replies = Replies(
        _sse(
            _chunk({"role": "assistant", "content": "Let me check. "}),
            _chunk(
                {"tool_calls": [{**first, "function": {"name": "get_weather", "arguments": ""}}]}
            ),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Rome"}'}}]}),
            _chunk({}, "tool_calls"),
            {
                **_chunk({}),
                "choices": [],
                "usage": {"prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51},
            },
        )
    )
    events = [e async for e in mocked(replies).stream(_ask("weather?", tools=(WEATHER,)))]
    assert events[0] == TextDelta(text="Let me check. ")
    done = events[-1]
    assert isinstance(done, StreamDone) and len(events) == 2
    assert done.response.tool_calls == (
        ToolCall(id="call_9", name="get_weather", arguments={"city": "Rome"}),
    )
    assert done.response.finish_reason == "tool_calls"
    assert (done.response.usage.input_tokens, done.response.usage.output_tokens) == (42, 9)
    assert replies.bodies[0]["stream"] is True
    assert replies.bodies[0]["stream_options"] == {"include_usage": True}


async def test_stream_with_invalid_json_raises(mocked: Callable[..., OpenAIModel]) -> None:
    replies = Replies(_sse(_chunk({"content": '{"name": '}), _chunk({}, "length")))
    with pytest.raises(ModelOutputError, match="output cut at max_tokens"):
        async for _ in mocked(replies).stream(_ask("a person", output_schema=PERSON)):
            pass


async def test_stream_with_a_malformed_chunk_is_transient(
    mocked: Callable[..., OpenAIModel],
) -> None:
    body = f"data: {json.dumps(_chunk({'content': 'Hi'}))}\n\ndata: {{oops\n\n"
    replies = Replies(httpx.Response(200, headers={"content-type": "text/event-stream"}, text=body))
    events: list[object] = []
    with pytest.raises(ModelTransientError, match="stream broke off"):
        async for event in mocked(replies).stream(_ask("hi")):
            events.append(event)
    assert events == [TextDelta(text="Hi")]
