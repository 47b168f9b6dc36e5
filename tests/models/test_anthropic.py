"""``AnthropicModel`` through the SDK's real HTTP client against a stub server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest

from tests.anthropic_stub import (
    VERSION,
    AnthropicStub,
    Reply,
    error,
    message,
    sse,
    text,
    text_stream,
    tool_use,
)
from tests.models.conftest import CALCULATOR, CLOCK
from tether.errors import (
    ModelError,
    ModelOutputError,
    ModelRateLimited,
    ModelTransientError,
    ModelUnavailable,
)
from tether.models.anthropic import AnthropicModel
from tether.models.base import Model, StreamingModel
from tether.types import (
    AssistantMessage,
    ModelRequest,
    ModelSettings,
    StreamDone,
    StreamEvent,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolChoice,
    ToolResultMessage,
    Usage,
    UserMessage,
)

KEY = "sk-ant-api03-test-key-never-shown"
MODEL = "claude-haiku-4-5"  # an alias: responses name the dated version
ID = "anthropic:claude-sonnet"
HELLO = ModelRequest(messages=(UserMessage(content="Say hello."),))
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


@pytest.fixture(scope="module")
def server() -> Iterator[AnthropicStub]:
    with AnthropicStub() as stub:
        yield stub


@pytest.fixture
def stub(server: AnthropicStub) -> Iterator[AnthropicStub]:
    server.reset()
    yield server
    assert server.reset() == [], "replies queued but never requested"


@pytest.fixture
async def model(stub: AnthropicStub) -> AsyncIterator[AnthropicModel]:
    async with AnthropicModel(ID, model=MODEL, base_url=stub.base_url, api_key=KEY) as m:
        yield m


def sent(stub: AnthropicStub) -> dict[str, Any]:
    """The body of the one request the stub received."""
    assert len(stub.requests) == 1, [r.body for r in stub.requests]
    return stub.requests[0].body


async def collect(model: AnthropicModel, request: ModelRequest) -> list[StreamEvent]:
    return [event async for event in model.stream(request)]


def test_is_a_streaming_model() -> None:
    m = AnthropicModel(ID, model=MODEL, api_key=KEY)
    assert isinstance(m, Model) and isinstance(m, StreamingModel)
    assert m.id == ID and KEY not in repr(m)


# --- requests and responses -------------------------------------------------------------------


async def test_text_reply_with_usage(stub: AnthropicStub, model: AnthropicModel) -> None:
    stub.replies.append(message(text("Hello"), text(", world."), input_tokens=21, output_tokens=9))
    request = ModelRequest(
        messages=(SystemMessage(content="Be brief."), UserMessage(content="Say hello.")),
        settings=ModelSettings(max_tokens=99),
    )

    response = await model.request(request)

    assert response.text == "Hello, world."
    assert response.tool_calls == ()
    assert response.usage == Usage(input_tokens=21, output_tokens=9)
    assert (response.model, response.model_version) == (ID, VERSION)
    assert response.finish_reason == "stop" and response.attempts == 1
    assert response.latency_ms > 0
    recorded = stub.requests[0]
    assert (recorded.method, recorded.path) == ("POST", "/v1/messages")
    assert recorded.headers["authorization"] == f"Bearer {KEY}"
    assert recorded.headers["x-stainless-retry-count"] == "0"
    assert recorded.body == {
        "model": MODEL,
        "max_tokens": 99,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}],
    }


async def test_tool_use_becomes_tool_calls(stub: AnthropicStub, model: AnthropicModel) -> None:
    stub.replies.append(
        message(
            text("Let me compute that."),
            tool_use("toolu_01A09q90qw90lq917835lq9", "calculator", {"expression": "17*23"}),
            tool_use("toolu_01B", "get_datetime", {"timezone": "UTC"}),
            stop_reason="tool_use",
        )
    )
    request = ModelRequest(messages=HELLO.messages, tools=(CALCULATOR, CLOCK))

    response = await model.request(request)

    assert response.text == "Let me compute that."
    assert response.tool_calls == (
        ToolCall(
            id="toolu_01A09q90qw90lq917835lq9",
            name="calculator",
            arguments={"expression": "17*23"},
        ),
        ToolCall(id="toolu_01B", name="get_datetime", arguments={"timezone": "UTC"}),
    )
    assert response.finish_reason == "tool_calls"
    body = sent(stub)
    assert body["tools"] == [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema}
        for t in (CALCULATOR, CLOCK)
    ]
    assert body["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize(("choice", "sent_as"), [("required", "any"), ("none", "none")])
async def test_tool_choice_is_mapped(
    stub: AnthropicStub, model: AnthropicModel, choice: ToolChoice, sent_as: str
) -> None:
    stub.replies.append(message(text("ok")))
    await model.request(
        ModelRequest(messages=HELLO.messages, tools=(CALCULATOR,), tool_choice=choice)
    )
    assert sent(stub)["tool_choice"] == {"type": sent_as}


async def test_tool_results_are_sent_as_one_user_turn(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.append(message(text("17*23 is 391; it is noon UTC.")))
    calls = (
        ToolCall(id="toolu_1", name="calculator", arguments={"expression": "17*23"}),
        ToolCall(id="toolu_2", name="get_datetime", arguments={"timezone": "UTC"}),
    )
    request = ModelRequest(
        messages=(
            SystemMessage(content="You are exact."),
            UserMessage(content="17*23, and the time?"),
            SystemMessage(content="Answer in English."),
            AssistantMessage(content="Checking both.", tool_calls=calls),
            ToolResultMessage(tool_call_id="toolu_1", name="calculator", content="391"),
            ToolResultMessage(
                tool_call_id="toolu_2",
                name="get_datetime",
                content='{"error": {"code": "timeout"}}',
                is_error=True,
            ),
        ),
        tools=(CALCULATOR, CLOCK),
    )

    response = await model.request(request)

    assert response.text == "17*23 is 391; it is noon UTC."
    body = sent(stub)
    assert body["system"] == "You are exact.\n\nAnswer in English."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "17*23, and the time?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "calculator",
                    "input": {"expression": "17*23"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_datetime",
                    "input": {"timezone": "UTC"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "391",
                    "is_error": False,
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": '{"error": {"code": "timeout"}}',
                    "is_error": True,
                },
            ],
        },
    ]


async def test_max_tokens_is_length(stub: AnthropicStub, model: AnthropicModel) -> None:
    stub.replies.append(message(text("Once upon a"), stop_reason="max_tokens"))
    response = await model.request(HELLO)
    assert (response.text, response.finish_reason) == ("Once upon a", "length")


# --- structured output ------------------------------------------------------------------------


def output(arguments: dict[str, Any], *, tokens: int = 6) -> Reply:
    return message(
        tool_use("toolu_out", "output", arguments), stop_reason="tool_use", output_tokens=tokens
    )


async def test_structured_output_forces_the_output_tool(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.append(output({"name": "Ada", "age": 36}))
    request = ModelRequest(messages=HELLO.messages, output_schema=PERSON)

    response = await model.request(request)

    assert json.loads(response.text or "") == {"name": "Ada", "age": 36}
    assert response.tool_calls == () and response.finish_reason == "stop"
    assert response.attempts == 1 and response.model_version == VERSION
    body = sent(stub)
    assert body["tools"] == [
        {"name": "output", "description": "Give the final answer.", "input_schema": PERSON}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "output"}


async def test_invalid_structured_output_is_fed_back(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.extend(
        [output({"name": "Ada", "age": -1}, tokens=5), output({"name": "Ada", "age": 36}, tokens=7)]
    )

    response = await model.request(ModelRequest(messages=HELLO.messages, output_schema=PERSON))

    assert json.loads(response.text or "") == {"name": "Ada", "age": 36}
    assert response.attempts == 2
    assert response.usage == Usage(input_tokens=24, output_tokens=12)
    first, second = (r.body["messages"] for r in stub.requests)
    assert second[: len(first)] == first
    feedback = second[len(first) :]
    assert feedback[0] == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_out",
                "name": "output",
                "input": {"name": "Ada", "age": -1},
            }
        ],
    }
    (result,) = feedback[1]["content"]
    assert feedback[1]["role"] == "user"
    assert result["tool_use_id"] == "toolu_out" and result["is_error"] is True
    assert "$.age: -1 is less than the minimum of 0" in result["content"]


async def test_structured_output_gives_up_after_two_retries(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.extend([output({"name": "Ada"})] * 3)

    with pytest.raises(ModelOutputError, match="3 times") as caught:
        await model.request(ModelRequest(messages=HELLO.messages, output_schema=PERSON))

    assert "'age' is a required property" in str(caught.value)
    assert len(stub.requests) == 3


async def test_non_object_output_schema_is_wrapped(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    stub.replies.append(output({"value": [3, 1, 2]}))

    response = await model.request(ModelRequest(messages=HELLO.messages, output_schema=schema))

    assert json.loads(response.text or "") == [3, 1, 2]
    assert sent(stub)["tools"][0]["input_schema"] == {
        "type": "object",
        "properties": {"value": schema},
        "required": ["value"],
    }


# --- streaming --------------------------------------------------------------------------------


async def test_stream_yields_deltas_then_done_with_usage(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.append(
        sse(text_stream(["Hel", "lo", " there"], input_tokens=25, output_tokens=15))
    )

    events = await collect(model, HELLO)

    assert events[:-1] == [TextDelta(text="Hel"), TextDelta(text="lo"), TextDelta(text=" there")]
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert done.response.text == "Hello there"
    assert done.response.usage == Usage(input_tokens=25, output_tokens=15)
    assert (done.response.model, done.response.model_version) == (ID, VERSION)
    assert done.response.finish_reason == "stop"
    assert sent(stub)["stream"] is True


async def test_stream_assembles_tool_calls(stub: AnthropicStub, model: AnthropicModel) -> None:
    events = text_stream([], output_tokens=40, stop_reason="tool_use")
    block = tool_use("toolu_9", "calculator", {})
    parts = ['{"expr', 'ession": "2*', '3"}']
    deltas = [
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": p},
            },
        )
        for p in parts
    ]
    tool_events = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": 1, "content_block": block},
        ),
        *deltas,
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ]
    stub.replies.append(sse([*events[:4], *tool_events, *events[4:]]))

    (done,) = await collect(model, ModelRequest(messages=HELLO.messages, tools=(CALCULATOR,)))

    assert isinstance(done, StreamDone)
    assert done.response.tool_calls == (
        ToolCall(id="toolu_9", name="calculator", arguments={"expression": "2*3"}),
    )
    assert done.response.finish_reason == "tool_calls"
    assert done.response.usage == Usage(input_tokens=25, output_tokens=40)


async def test_stream_error_event_is_transient(stub: AnthropicStub, model: AnthropicModel) -> None:
    events = text_stream(["Hel"])[:4]
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    stub.replies.append(sse([*events, ("error", overloaded)]))
    seen: list[StreamEvent] = []

    with pytest.raises(ModelTransientError, match="Overloaded"):
        async for event in model.stream(HELLO):
            seen.append(event)

    assert seen == [TextDelta(text="Hel")]


async def test_stream_of_structured_output_is_one_delta(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.append(output({"name": "Ada", "age": 36}))

    delta, done = await collect(model, ModelRequest(messages=HELLO.messages, output_schema=PERSON))

    assert isinstance(delta, TextDelta) and isinstance(done, StreamDone)
    assert json.loads(delta.text) == {"name": "Ada", "age": 36} and done.response.text == delta.text


# --- errors -----------------------------------------------------------------------------------


async def test_429_is_rate_limited_with_retry_after(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.append(
        error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            {"retry-after": "3"},
        )
    )

    with pytest.raises(ModelRateLimited, match="per-minute rate limit") as caught:
        await model.request(HELLO)

    assert caught.value.retry_after == 3.0
    assert len(stub.requests) == 1  # the SDK did not retry on its own


@pytest.mark.parametrize(
    ("status", "kind", "text_"),
    [(500, "api_error", "Internal server error"), (529, "overloaded_error", "Overloaded")],
)
async def test_server_errors_are_transient(
    stub: AnthropicStub, model: AnthropicModel, status: int, kind: str, text_: str
) -> None:
    stub.replies.append(error(status, kind, text_))

    with pytest.raises(ModelTransientError) as caught:
        await model.request(HELLO)

    assert type(caught.value) is ModelTransientError
    assert str(status) in str(caught.value) and text_ in str(caught.value)
    assert len(stub.requests) == 1


async def test_400_is_a_model_error_with_the_api_message(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.append(
        error(400, "invalid_request_error", "messages: text content blocks must be non-empty")
    )

    with pytest.raises(ModelError) as caught:
        await model.request(HELLO)

    assert type(caught.value) is ModelError
    assert "messages: text content blocks must be non-empty" in str(caught.value)
    assert ID in str(caught.value)


async def test_401_is_unavailable_and_hides_the_key(
    stub: AnthropicStub, model: AnthropicModel
) -> None:
    stub.replies.append(error(401, "authentication_error", "invalid x-api-key"))

    with pytest.raises(ModelUnavailable, match="TETHER_ANTHROPIC_API_KEY") as caught:
        await model.request(HELLO)

    assert KEY not in str(caught.value)


@pytest.mark.parametrize("raw", [b'{"id": "msg_1", "type": "mess', b"", b"[1, 2]"])
async def test_malformed_body_is_transient(
    stub: AnthropicStub, model: AnthropicModel, raw: bytes
) -> None:
    stub.replies.append(Reply(raw=raw))

    with pytest.raises(ModelTransientError, match="malformed"):
        await model.request(HELLO)


async def test_timeout_is_transient(stub: AnthropicStub) -> None:
    stub.replies.append(Reply(delay=1.0, body={}))
    async with AnthropicModel(
        ID, model=MODEL, base_url=stub.base_url, api_key=KEY, timeout_s=0.2
    ) as m:
        with pytest.raises(ModelTransientError, match=r"within 0\.2s"):
            await m.request(HELLO)


async def test_unreachable_server_is_unavailable_in_one_line() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"

    async with AnthropicModel(ID, model=MODEL, base_url=base_url, api_key=KEY) as m:
        with pytest.raises(ModelUnavailable) as caught:
            await m.request(HELLO)

    message_ = str(caught.value)
    assert base_url in message_ and "\n" not in message_ and KEY not in message_


async def test_no_key_for_the_real_api_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")  # tether.settings reads it, not the SDK
    async with AnthropicModel(ID, model=MODEL) as m:
        with pytest.raises(ModelUnavailable, match="TETHER_ANTHROPIC_API_KEY") as caught:
            await m.request(HELLO)
    assert "sk-from-env" not in str(caught.value)


async def test_custom_url_without_key_sends_no_credentials(
    stub: AnthropicStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "tok-from-env")
    stub.replies.append(message(text("hi")))

    async with AnthropicModel(ID, model=MODEL, base_url=stub.base_url) as m:
        assert (await m.request(HELLO)).text == "hi"

    headers = stub.requests[0].headers
    assert "authorization" not in headers and "x-api-key" not in headers


async def test_callers_http_client_is_used_and_left_open(stub: AnthropicStub) -> None:
    stub.replies.append(message(text("hi")))
    async with httpx2.AsyncClient(headers={"x-trace": "t-1"}) as client:
        m = AnthropicModel(ID, model=MODEL, base_url=stub.base_url, api_key=KEY, http_client=client)
        await m.request(HELLO)
        await m.aclose()
        assert not client.is_closed
    assert stub.requests[0].headers["x-trace"] == "t-1"
