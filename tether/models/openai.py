"""``OpenAIModel``: any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama,
llama.cpp server, Groq, ...).

- tools become ``tools=[{"type": "function", ...}]``; ``tool_choice="required"`` with a single
  tool is sent as that tool's named choice (same meaning; servers such as ``llama_cpp.server``
  support only the named form);
- ``output_schema`` with no tools offered asks for ``response_format`` ``json_schema``; a server
  that rejects it (``llama_cpp.server`` accepts only ``json_object``) is asked again, once per
  model, with ``{"type": "json_object", "schema": ...}``;
- output is always validated: text against ``output_schema``, tool calls for known names and
  JSON-object arguments. Invalid output is retried up to twice with the problem fed back as a
  user message, then ``ModelOutputError``.

The SDK's own retries are off (``max_retries=0``): tether retries in wrappers. SDK errors are
translated here and SDK types never leave this module.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import httpx
import httpx2
import jsonschema
import openai
from openai.types.chat import ChatCompletionMessage, ChatCompletionMessageFunctionToolCall
from openai.types.chat.chat_completion_message_function_tool_call import Function

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

RETRIES = 2
DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "not-needed"
KEY_HINT = "set TETHER_OPENAI_API_KEY or OPENAI_API_KEY"
_JsonMode = Literal["json_schema", "json_object"]


class _InvalidOutput(Exception):
    """The model's output is unusable; ``feedback`` tells it what to fix."""

    def __init__(self, problem: str, feedback: list[dict[str, Any]]) -> None:
        super().__init__(problem)
        self.feedback = feedback


class OpenAIModel:
    """A chat model behind an OpenAI-compatible HTTP API.

    ``http_client`` (``httpx`` or ``httpx2`` ``AsyncClient``) is used as given and never closed
    here; without it each request opens and closes its own client.
    """

    def __init__(
        self,
        model_id: str,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._id = model_id
        self._model = model
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._missing_key = api_key is None and _is_openai_host(self._base_url)
        self._api_key = api_key or PLACEHOLDER_KEY
        self._timeout_s = timeout_s
        self._http_client = http_client
        self._json_mode: _JsonMode = "json_schema"

    @property
    def id(self) -> str:
        return self._id

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"OpenAIModel({self._id!r}, model={self._model!r}, base_url={self._base_url!r})"

    async def request(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        extra: list[dict[str, Any]] = []
        usage = Usage()
        problems: list[str] = []
        async with self._client() as client:
            for attempt in range(RETRIES + 1):
                completion = await self._create(client, request, extra, attempt)
                usage = usage + _usage(completion)
                choice = completion.choices[0]
                try:
                    response = _read(request, choice.message, choice.finish_reason)
                except _InvalidOutput as exc:
                    problems.append(f"attempt {attempt + 1}: {exc}")
                    extra.extend(exc.feedback)
                    continue
                return self._finish(response, usage, completion.model, started, attempt + 1)
        raise ModelOutputError(
            f"model {self._id!r} produced invalid output {RETRIES + 1} times "
            f"({'; '.join(problems)}); try a stronger model or simplify the schema"
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Text deltas as they arrive, then one ``StreamDone``. Invalid output is not retried
        (its deltas were already sent): it raises ``ModelOutputError``. When the server sends
        no usage, tokens are estimated (one per streamed piece; prompt characters / 4)."""
        started = time.perf_counter()
        acc = _StreamAccumulator()
        async with self._client() as client:
            chunks = await self._create(client, request, [], 0, stream=True)
            try:
                async for chunk in chunks:
                    text = acc.add(chunk)
                    if text:
                        yield TextDelta(text=text)
            except openai.OpenAIError as exc:
                raise self._translate(exc) from exc
            except (ValueError, httpx.TransportError, httpx2.TransportError) as exc:
                raise self._bad_body(f"the stream broke off ({type(exc).__name__})") from exc
            finally:
                await chunks.close()
        message, finish = acc.message(), acc.finish_reason
        try:
            response = _read(request, message, finish)
        except _InvalidOutput as exc:
            raise ModelOutputError(
                f"model {self._id!r} streamed invalid output ({exc}); "
                "use request() to have it retried"
            ) from exc
        usage = acc.usage or Usage(input_tokens=_estimate_tokens(request), output_tokens=acc.pieces)
        yield StreamDone(response=self._finish(response, usage, acc.model, started, 1))

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[openai.AsyncOpenAI]:
        if self._missing_key:
            raise ModelUnavailable(
                f"model {self._id!r} needs an API key for {self._base_url}; {KEY_HINT}"
            )
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self._base_url,
            timeout=self._timeout_s,
            max_retries=0,
            http_client=cast(Any, self._http_client),
        )
        try:
            yield client
        finally:
            if self._http_client is None:  # a caller's client is the caller's to close
                await client.close()

    async def _create(
        self,
        client: openai.AsyncOpenAI,
        request: ModelRequest,
        extra: list[dict[str, Any]],
        attempt: int,
        *,
        stream: bool = False,
    ) -> Any:
        """One chat completion call; a rejected ``json_schema`` is retried as ``json_object``."""
        while True:
            params = _params(request, self._model, self._json_mode, extra, attempt)
            if stream:
                params |= {"stream": True, "stream_options": {"include_usage": True}}
            try:
                result = await client.chat.completions.create(**params)
            except openai.APIStatusError as exc:
                if "response_format" in params and self._rejects_json_schema(exc):
                    self._json_mode = "json_object"
                    continue
                raise self._translate(exc) from exc
            except openai.OpenAIError as exc:
                raise self._translate(exc) from exc
            except ValueError as exc:  # the body is not JSON
                raise self._bad_body(f"its body is not JSON ({exc})") from exc
            if not stream and not getattr(result, "choices", None):
                raise self._bad_body(f"it is not a chat completion: {str(result)[:80]!r}")
            return result

    def _rejects_json_schema(self, exc: openai.APIStatusError) -> bool:
        return (
            self._json_mode == "json_schema"
            and exc.status_code in (400, 422, 500)
            and "json_schema" in exc.message
            and "json_object" in exc.message  # it says what it accepts instead
        )

    def _bad_body(self, why: str) -> ModelTransientError:
        return ModelTransientError(f"model {self._id!r}: {self._base_url} sent a bad reply: {why}")

    def _translate(self, exc: openai.OpenAIError) -> ModelError:
        """A tether error for an SDK error; the API key never appears in the message."""
        where = f"openai endpoint {self._base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return ModelTransientError(
                f"model {self._id!r}: {where} did not answer within {self._timeout_s:g} s"
            )
        if isinstance(exc, openai.APIConnectionError):
            return ModelUnavailable(
                f"cannot reach {where}: {_connection_reason(exc)}; "
                "check the URL or start the server"
            )
        if not isinstance(exc, openai.APIStatusError):
            return ModelError(f"model {self._id!r} failed: {_scrub(str(exc), self._api_key)}")
        detail = one_line(_scrub(exc.message, self._api_key))[:300]
        if isinstance(exc, openai.AuthenticationError):
            return ModelUnavailable(
                f"model {self._id!r}: {where} refused the API key (HTTP 401); "
                "check TETHER_OPENAI_API_KEY"
            )
        if isinstance(exc, openai.RateLimitError):
            wait = retry_after(exc.response.headers)
            return ModelRateLimited(
                f"model {self._id!r} is rate limited by {where}: {detail}", retry_after=wait
            )
        if exc.status_code >= 500 or exc.status_code == 408:
            return ModelTransientError(
                f"model {self._id!r}: {where} failed with HTTP {exc.status_code}: {detail}"
            )
        return ModelError(
            f"model {self._id!r}: {where} rejected the request with HTTP {exc.status_code}: "
            f"{detail}"
        )

    def _finish(
        self, response: ModelResponse, usage: Usage, version: str, started: float, attempts: int
    ) -> ModelResponse:
        return ModelResponse(
            text=response.text,
            tool_calls=response.tool_calls,
            finish_reason=response.finish_reason,
            usage=usage,
            model=self._id,
            model_version=version or self._model,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
        )


# --- request ----------------------------------------------------------------------------


def _params(
    request: ModelRequest,
    model: str,
    json_mode: _JsonMode,
    extra: list[dict[str, Any]],
    attempt: int,
) -> dict[str, Any]:
    settings = request.settings
    params: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in request.messages] + extra,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    if settings.seed is not None:
        params["seed"] = settings.seed + attempt  # a retry must not repeat a greedy failure
    if request.tools:
        params["tools"] = [_tool(t.name, t.description, t.input_schema) for t in request.tools]
        params["tool_choice"] = _tool_choice(request)
    if request.output_schema is not None and (not request.tools or request.tool_choice == "none"):
        params["response_format"] = _response_format(request.output_schema, json_mode)
    return params


def _message(message: Message) -> dict[str, Any]:
    match message:
        case SystemMessage() | UserMessage():
            return {"role": message.kind, "content": message.content}
        case ToolResultMessage():
            return {
                "role": "tool",
                "tool_call_id": message.tool_call_id,
                "content": message.content,
            }
        case AssistantMessage():
            return _assistant(message)


def _assistant(message: AssistantMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return out


def _tool(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


def _tool_choice(request: ModelRequest) -> str | dict[str, Any]:
    if request.tool_choice == "required" and len(request.tools) == 1:
        return {"type": "function", "function": {"name": request.tools[0].name}}
    return request.tool_choice


def _response_format(schema: dict[str, Any], mode: _JsonMode) -> dict[str, Any]:
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": False},
    }


# --- response ---------------------------------------------------------------------------


def _read(
    request: ModelRequest, message: ChatCompletionMessage, finish: str | None
) -> ModelResponse:
    """tether's response for a chat message, or ``_InvalidOutput``."""
    calls = tuple(_tool_call(request, raw) for raw in (message.tool_calls or ()))
    text = message.content
    if calls:
        return ModelResponse(text=text or None, tool_calls=calls, finish_reason="tool_calls")
    if request.output_schema is not None:
        _check_json(text or "", request.output_schema, finish)
    return ModelResponse(text=text or "", finish_reason=_finish_reason(finish))


def _tool_call(request: ModelRequest, raw: Any) -> ToolCall:
    if not isinstance(raw, ChatCompletionMessageFunctionToolCall):
        raise _retry_tool(f"a {getattr(raw, 'type', '?')!r} tool call is not a function call")
    name, arguments = raw.function.name, raw.function.arguments
    names = [t.name for t in request.tools]
    if name not in names:
        raise _retry_tool(f"tool {name!r} does not exist (tools: {', '.join(names)})")
    try:
        args = json.loads(arguments or "{}")
    except ValueError as exc:
        raise _retry_tool(
            f"arguments of {name!r} are not JSON ({exc}): {arguments[:80]!r}"
        ) from exc
    if not isinstance(args, dict):
        raise _retry_tool(f"arguments of {name!r} are not a JSON object: {arguments[:80]!r}")
    return ToolCall(id=raw.id or f"call_{name}", name=name, arguments=args)


def _retry_tool(problem: str) -> _InvalidOutput:
    feedback = f"Your last tool call was invalid: {problem}; call a listed tool with a JSON object"
    return _InvalidOutput(problem, [{"role": "user", "content": feedback}])


def _check_json(text: str, schema: dict[str, Any], finish: str | None) -> None:
    try:
        value = json.loads(text)
        jsonschema.validate(value, schema)
    except (ValueError, jsonschema.ValidationError) as exc:
        why = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
        if finish == "length":
            why = f"output cut at max_tokens ({why})"
        problem = f"{one_line(why)[:200]}: {text[:80]!r}"
        feedback = f"Your last output was invalid: {problem}; reply with JSON matching the schema"
        raise _InvalidOutput(
            problem,
            [{"role": "assistant", "content": text}, {"role": "user", "content": feedback}],
        ) from exc


def _finish_reason(raw: str | None) -> FinishReason:
    if raw in ("tool_calls", "function_call"):
        return "tool_calls"
    return "length" if raw == "length" else "stop"


def _usage(completion: Any) -> Usage:
    raw = getattr(completion, "usage", None)
    if raw is None:
        return Usage()
    return Usage(input_tokens=raw.prompt_tokens or 0, output_tokens=raw.completion_tokens or 0)


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _StreamAccumulator:
    """Text, tool-call pieces, usage and finish reason gathered from stream chunks."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str = ""
    pieces: int = 0

    def add(self, chunk: Any) -> str:
        """Takes in one chunk; returns its text."""
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.usage = _usage(chunk)
        text = ""
        for choice in chunk.choices or ():
            self.finish_reason = choice.finish_reason or self.finish_reason
            text += choice.delta.content or ""
            for delta in choice.delta.tool_calls or ():
                self._add_call(delta)
        self.text.append(text)
        self.pieces += 1 if text else 0
        return text

    def _add_call(self, delta: Any) -> None:
        call = self.calls.setdefault(delta.index, _PartialCall())
        call.id = delta.id or call.id
        if delta.function is not None:
            call.name = delta.function.name or call.name  # some servers repeat it per chunk
            call.arguments += delta.function.arguments or ""
            self.pieces += 1

    def message(self) -> ChatCompletionMessage:
        calls = [
            ChatCompletionMessageFunctionToolCall(
                id=c.id, type="function", function=Function(name=c.name, arguments=c.arguments)
            )
            for _, c in sorted(self.calls.items())
        ]
        return ChatCompletionMessage(
            role="assistant", content="".join(self.text), tool_calls=calls or None
        )


def _estimate_tokens(request: ModelRequest) -> int:
    chars = sum(len(getattr(m, "content", None) or "") for m in request.messages)
    return max(1, chars // 4)


# --- errors -----------------------------------------------------------------------------


def _is_openai_host(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    return host == "api.openai.com" or host.endswith(".openai.com")


def _connection_reason(exc: openai.APIConnectionError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        if "name or service not known" in str(cause).lower():
            return "unknown host"
        cause = cause.__cause__ or cause.__context__
    inner = exc.__cause__
    return one_line(str(inner))[:120] if inner is not None and str(inner) else "connection failed"


def _scrub(text: str, api_key: str) -> str:
    return text.replace(api_key, "***") if api_key != PLACEHOLDER_KEY else text
