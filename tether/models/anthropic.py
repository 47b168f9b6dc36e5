"""``AnthropicModel``: Claude through the Anthropic Messages API (``anthropic:MODEL``).

tether's messages become Messages API parameters: system messages become ``system``, tool calls
``tool_use`` blocks, tool results ``tool_result`` blocks in a user turn (consecutive turns of one
role are merged). With an ``output_schema`` and no tools, the model is forced to call one tool,
``output``, whose input schema is the output schema; its input is validated and returned as JSON
text, and invalid output is fed back to the model up to twice before ``ModelOutputError``.

The SDK never retries (``max_retries=0``): retries, backoff and circuit breaking are tether's
wrappers' job. SDK exceptions become tether's ``ModelError`` family here, and no SDK type leaves
this module. The key is given by the caller (read by ``tether.settings``); the SDK is never left
to read credentials or the base URL from the environment.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import anthropic
import httpx2
import jsonschema
from anthropic import types as vendor

from tether.errors import (
    ModelError,
    ModelOutputError,
    ModelRateLimited,
    ModelTransientError,
    ModelUnavailable,
)
from tether.models._provider import one_line, retry_after
from tether.types import (
    AssistantMessage,
    FinishReason,
    Message,
    ModelRequest,
    ModelResponse,
    StreamDone,
    StreamEvent,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
OUTPUT_TOOL = "output"
RETRIES = 2  # extra attempts when structured output is invalid
_KEY_HINT = "set TETHER_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)"
_TOOL_CHOICES: dict[str, vendor.ToolChoiceParam] = {
    "auto": {"type": "auto"},
    "required": {"type": "any"},
    "none": {"type": "none"},
}
_FINISH: dict[str, FinishReason] = {
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}
_TRANSIENT_ERROR_TYPES = frozenset({"api_error", "overloaded_error", "timeout_error"})


class AnthropicModel:
    """A Claude model behind the Messages API (or a compatible endpoint at ``base_url``).

    ``api_key`` is required for the real API; a custom ``base_url`` may go without one (no
    ``Authorization`` header is sent). ``http_client`` is an ``httpx2.AsyncClient`` (the SDK is
    built on ``httpx2``); the caller owns and closes it. Otherwise call ``aclose()`` when done.
    """

    def __init__(
        self,
        model_id: str,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._id = model_id
        self._model = model
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._custom_url = base_url is not None
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._http_client = http_client
        self._client: anthropic.AsyncAnthropic | None = None

    @property
    def id(self) -> str:
        return self._id

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"AnthropicModel({self._id!r}, model={self._model!r}, base_url={self._base_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP connections this model opened (not a caller's ``http_client``)."""
        client, self._client = self._client, None
        if client is not None and self._http_client is None:
            await client.close()

    async def __aenter__(self) -> AnthropicModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        if request.output_schema is not None and not request.tools:
            return await self._structured(request, request.output_schema, started)
        params = _params(request, self._model)
        message = await self._create(params)
        response = _read(message, self._id)
        return _finish(response, response.usage, started, attempts=1)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """``TextDelta`` events as text arrives, then one ``StreamDone``.

        Structured output is not streamed: its JSON arrives as one delta once validated.
        """
        started = time.perf_counter()
        if request.output_schema is not None and not request.tools:
            response = await self._structured(request, request.output_schema, started)
            yield TextDelta(text=response.text or "")
            yield StreamDone(response=response)
            return
        state = _StreamState(model_id=self._id)
        try:
            events = await self._sdk().messages.create(**_params(request, self._model), stream=True)
            async with events:
                async for event in events:
                    delta = state.feed(event)
                    if delta:
                        yield TextDelta(text=delta)
        except (anthropic.AnthropicError, ValueError) as exc:
            raise self._translate(exc) from exc
        response = state.response()
        yield StreamDone(response=_finish(response, response.usage, started, attempts=1))

    async def _structured(
        self, request: ModelRequest, schema: dict[str, Any], started: float
    ) -> ModelResponse:
        wrapped = _object_schema(schema)
        try:
            validator = jsonschema.validators.validator_for(schema)(schema)
            validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ModelError(
                f"model {self._id!r}: the output schema is invalid: {exc.message}"
            ) from exc
        params = _params(request, self._model)
        params["tools"] = [_tool(OUTPUT_TOOL, "Give the final answer.", wrapped)]
        params["tool_choice"] = {"type": "tool", "name": OUTPUT_TOOL}
        usage = Usage()
        problems: list[str] = []
        for attempt in range(RETRIES + 1):
            message = await self._create(params)
            response = _read(message, self._id)
            usage = usage + response.usage
            call = next((c for c in response.tool_calls if c.name == OUTPUT_TOOL), None)
            problem = _output_problem(call, response, validator, wrapped is not schema)
            if call is not None and problem is None:
                value = call.arguments["value"] if wrapped is not schema else call.arguments
                text = json.dumps(value, ensure_ascii=False)
                result = ModelResponse(
                    text=text, model=response.model, model_version=response.model_version
                )
                return _finish(result, usage, started, attempts=attempt + 1)
            problems.append(f"attempt {attempt + 1}: {problem}")
            if call is not None:  # let the model see what was wrong and correct it
                params["messages"] = [*params["messages"], *_feedback(call, problem or "")]
        raise ModelOutputError(
            f"model {self._id!r} produced invalid structured output {RETRIES + 1} times "
            f"({'; '.join(problems)}); simplify the output schema or raise max_tokens"
        )

    async def _create(self, params: dict[str, Any]) -> vendor.Message:
        try:
            message = await self._sdk().messages.create(**params)
        except (anthropic.AnthropicError, ValueError) as exc:  # ValueError: a body not JSON
            raise self._translate(exc) from exc
        if not isinstance(message, vendor.Message):  # a non-JSON body comes back as text
            raise ModelTransientError(
                f"model {self._id!r}: {self._base_url} returned a malformed response "
                f"(not a Messages API object); retry later"
            )
        return message

    def _sdk(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> anthropic.AsyncAnthropic:
        if not self._api_key and not self._custom_url:
            raise ModelUnavailable(f"model {self._id!r} needs an Anthropic API key; {_KEY_HINT}")
        # An explicit key (even an empty one) stops the SDK reading ANTHROPIC_* credentials;
        # without a key, the Authorization header it would build is removed.
        headers: dict[str, Any] = {} if self._api_key else {"Authorization": anthropic.omit}
        return anthropic.AsyncAnthropic(
            api_key=self._api_key or "",
            base_url=self._base_url,
            timeout=self._timeout_s,
            max_retries=0,
            default_headers=cast(dict[str, str], headers),
            http_client=self._http_client,
        )

    def _translate(self, exc: anthropic.AnthropicError | ValueError) -> ModelError:
        """tether's error for an SDK exception: one line, never the key."""
        where = f"model {self._id!r}"
        if isinstance(exc, anthropic.APITimeoutError):
            return ModelTransientError(
                f"{where}: no answer from {self._base_url} within {self._timeout_s:g}s; retry later"
            )
        if isinstance(exc, anthropic.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
            return ModelUnavailable(
                f"{where}: cannot reach the Anthropic API at {self._base_url} ({cause}); "
                "check the base URL and the network"
            )
        if isinstance(exc, anthropic.APIStatusError):
            return _status_error(exc, where)
        return ModelTransientError(
            f"{where}: {self._base_url} returned a malformed response "
            f"({type(exc).__name__}: {one_line(str(exc))[:200]}); retry later"
        )


def _status_error(exc: anthropic.APIStatusError, where: str) -> ModelError:
    detail = one_line(exc.api_message or exc.message)
    status, kind = exc.status_code, exc.type or ""
    if isinstance(exc, anthropic.RateLimitError) or kind == "rate_limit_error":
        after = retry_after(exc.response.headers)
        hint = f"retry after {after:g}s" if after is not None else "retry later"
        return ModelRateLimited(f"{where}: rate limited: {detail}; {hint}", retry_after=after)
    if isinstance(exc, anthropic.AuthenticationError):
        return ModelUnavailable(f"{where}: the API key was rejected (401): {detail}; {_KEY_HINT}")
    # status < 400: an SSE ``error`` event in a stream that began with 200
    label = f"{status} {kind}".strip() if status >= 400 else f"{kind} in the stream"
    if status >= 500 or status == 408 or (status < 400 and kind in _TRANSIENT_ERROR_TYPES):
        return ModelTransientError(f"{where}: server error ({label}): {detail}; retry")
    return ModelError(f"{where}: request rejected ({label}): {detail}")


# --- request ----------------------------------------------------------------------------------


def _params(request: ModelRequest, model: str) -> dict[str, Any]:
    system = [m.content for m in request.messages if isinstance(m, SystemMessage)]
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.settings.max_tokens,
        "messages": _messages(request.messages),
    }
    if system:
        params["system"] = "\n\n".join(system)
    if request.tools:
        params["tools"] = [_tool(t.name, t.description, t.input_schema) for t in request.tools]
        params["tool_choice"] = _TOOL_CHOICES[request.tool_choice]
    return params


def _tool(name: str, description: str, schema: dict[str, Any]) -> vendor.ToolParam:
    return {"name": name, "description": description, "input_schema": schema}


def _messages(messages: tuple[Message, ...]) -> list[vendor.MessageParam]:
    """User and assistant turns; consecutive blocks of one role share one turn."""
    turns: list[tuple[str, list[vendor.ContentBlockParam]]] = []
    for message in messages:
        role, blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return [cast(vendor.MessageParam, {"role": role, "content": blocks}) for role, blocks in turns]


def _blocks(message: Message) -> tuple[str, list[vendor.ContentBlockParam]]:
    if isinstance(message, UserMessage):
        return "user", [{"type": "text", "text": message.content}]
    if isinstance(message, ToolResultMessage):
        result: vendor.ToolResultBlockParam = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.content,
            "is_error": message.is_error,
        }
        return "user", [result]
    if isinstance(message, AssistantMessage):
        blocks: list[vendor.ContentBlockParam] = []
        if message.content:
            blocks.append({"type": "text", "text": message.content})
        for call in message.tool_calls:
            blocks.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            )
        return "assistant", blocks
    return "system", []  # system messages go to ``system=``


# --- response ---------------------------------------------------------------------------------


def _read(message: vendor.Message, model_id: str) -> ModelResponse:
    try:
        texts = [b.text for b in message.content if isinstance(b, vendor.TextBlock)]
        calls = tuple(
            ToolCall(id=b.id, name=b.name, arguments=dict(b.input))
            for b in message.content
            if isinstance(b, vendor.ToolUseBlock)
        )
        usage = Usage(
            input_tokens=int(message.usage.input_tokens),
            output_tokens=int(message.usage.output_tokens),
        )
        version = str(message.model)
        stop = message.stop_reason
    except (AttributeError, TypeError, ValueError) as exc:  # fields missing from the body
        raise ModelTransientError(
            f"model {model_id!r}: malformed Messages API response ({exc}); retry later"
        ) from exc
    return ModelResponse(
        text="".join(texts) if texts else None,
        tool_calls=calls,
        usage=usage,
        model=model_id,
        model_version=version,
        finish_reason=_FINISH.get(stop or "", "stop"),
    )


def _finish(response: ModelResponse, usage: Usage, started: float, attempts: int) -> ModelResponse:
    return ModelResponse(
        text=response.text,
        tool_calls=response.tool_calls,
        usage=usage,
        model=response.model,
        model_version=response.model_version,
        finish_reason=response.finish_reason,
        latency_ms=(time.perf_counter() - started) * 1000,
        attempts=attempts,
    )


# --- structured output ------------------------------------------------------------------------


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Tool inputs are objects: a schema for anything else is wrapped as ``{"value": ...}``."""
    if schema.get("type") == "object":
        return schema
    return {"type": "object", "properties": {"value": schema}, "required": ["value"]}


def _output_problem(
    call: ToolCall | None,
    response: ModelResponse,
    validator: jsonschema.protocols.Validator,
    wrapped: bool,
) -> str | None:
    if response.finish_reason == "length":
        return "output cut at max_tokens"
    if call is None:
        return f"no {OUTPUT_TOOL!r} tool call in the response"
    if wrapped and "value" not in call.arguments:
        return "the output has no 'value'"
    value = call.arguments["value"] if wrapped else call.arguments
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    return "; ".join(f"{_json_path(e)}: {e.message}" for e in errors[:5])


def _json_path(error: jsonschema.ValidationError) -> str:
    return "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def _feedback(call: ToolCall, problem: str) -> list[vendor.MessageParam]:
    """The invalid call and a tool result saying what to fix."""
    return _messages(
        (
            AssistantMessage(tool_calls=(call,)),
            ToolResultMessage(
                tool_call_id=call.id,
                name=call.name,
                content=f"invalid output: {problem}. Call {OUTPUT_TOOL!r} again, fixing this.",
                is_error=True,
            ),
        )
    )


# --- streaming --------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _StreamState:
    """What the stream's events have said so far."""

    model_id: str
    version: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None
    text: list[str] = field(default_factory=list)
    calls: dict[int, tuple[str, str, list[str]]] = field(default_factory=dict)

    def feed(self, event: vendor.RawMessageStreamEvent) -> str:
        """Update the state; returns the text the event added."""
        if isinstance(event, vendor.RawMessageStartEvent):
            self.version = str(event.message.model)
            self.input_tokens = event.message.usage.input_tokens
            self.output_tokens = event.message.usage.output_tokens
        elif isinstance(event, vendor.RawContentBlockStartEvent):
            block = event.content_block
            if isinstance(block, vendor.ToolUseBlock):
                self.calls[event.index] = (block.id, block.name, [])
        elif isinstance(event, vendor.RawContentBlockDeltaEvent):
            delta = event.delta
            if isinstance(delta, vendor.TextDelta):
                self.text.append(delta.text)
                return delta.text
            if isinstance(delta, vendor.InputJSONDelta) and event.index in self.calls:
                self.calls[event.index][2].append(delta.partial_json)
        elif isinstance(event, vendor.RawMessageDeltaEvent):
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self.output_tokens = event.usage.output_tokens
            if event.usage.input_tokens is not None:
                self.input_tokens = event.usage.input_tokens
        return ""

    def response(self) -> ModelResponse:
        calls = []
        for index in sorted(self.calls):
            call_id, name, parts = self.calls[index]
            try:
                arguments = json.loads("".join(parts) or "{}")
            except json.JSONDecodeError as exc:
                raise ModelTransientError(
                    f"model {self.model_id!r}: streamed tool input for {name!r} is not JSON "
                    f"({exc}); retry"
                ) from exc
            calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
        return ModelResponse(
            text="".join(self.text) if self.text else None,
            tool_calls=tuple(calls),
            usage=Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens),
            model=self.model_id,
            model_version=self.version,
            finish_reason=_FINISH.get(self.stop_reason or "", "stop"),
        )
