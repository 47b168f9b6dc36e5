"""``LocalModel``: an embedded llama.cpp model (``local:smollm2``, ``local:PATH.gguf``).

Three modes, chosen by the request:

- tools offered: the model must produce one *step* (``{"tool", "args"}`` or ``{"answer"}``),
  forced by a grammar built from tether's step schema and validated afterwards;
- ``output_schema`` and no tools: the model must produce JSON matching it (returned as text);
- neither: plain text, bounded by ``max_tokens``.

Invalid output (bad JSON, schema violations the grammar cannot prevent such as ``minimum``, or
output cut at ``max_tokens``) is retried up to twice with a different seed, then raises
``ModelOutputError``. Inference runs in a worker thread, one call at a time per ``Llama``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import ModelError, ModelOutputError
from tether.models import _llama, _prompt, _steps
from tether.types import (
    AssistantMessage,
    FinishReason,
    ModelRequest,
    ModelResponse,
    ToolCall,
    Usage,
)

RETRIES = 2
RETRY_TEMPERATURE = 0.7


@dataclass(frozen=True, kw_only=True)
class _Plan:
    """What one request asks of the model: messages, grammar, and how to read the output."""

    messages: list[_prompt.ChatMessage]
    schema: dict[str, Any] | None
    parse: Callable[[str], ModelResponse] | None


@dataclass(frozen=True, kw_only=True)
class _Completion:
    text: str
    finish_reason: str
    usage: Usage


class LocalModel:
    """A GGUF model run in-process by llama.cpp. Loading happens on the first request.

    ``llama`` injects an object with ``create_chat_completion`` instead of loading ``path``
    (for tests).
    """

    def __init__(
        self,
        model_id: str,
        path: Path,
        *,
        n_threads: int = 2,
        n_ctx: int = 4096,
        seed: int = 0,
        llama: _llama.ChatCompleter | None = None,
    ) -> None:
        self._id = model_id
        self._path = Path(path)
        self._n_threads = n_threads
        self._n_ctx = n_ctx
        self._seed = seed
        self._loaded = _llama.Loaded(llama=llama) if llama is not None else None

    @property
    def id(self) -> str:
        return self._id

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"LocalModel({self._id!r}, {str(self._path)!r})"

    @property
    def model_version(self) -> str:
        """The GGUF file name and size: changes when the weights do."""
        try:
            size = self._path.stat().st_size
        except OSError:
            return self._path.name
        return f"{self._path.name}:{size}"

    async def request(self, request: ModelRequest) -> ModelResponse:
        return await asyncio.to_thread(self._request_sync, request)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own tokenizer (working memory's budget)."""
        loaded = self._load()
        tokenize = getattr(loaded.llama, "tokenize", None)
        if tokenize is None:  # an injected stand-in without a tokenizer
            return -(-len(text) // 4)
        with loaded.lock:
            return len(tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _request_sync(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        loaded = self._load()
        try:
            plan = self._plan(request)
        except ValueError as exc:  # a $ref the step schema cannot inline
            raise ModelError(f"model {self._id!r} cannot force this schema: {exc}") from exc
        grammar = _grammar(plan.schema) if plan.schema is not None else None
        usage = Usage()
        problems: list[str] = []
        for attempt in range(RETRIES + 1):
            with loaded.lock:
                done = self._complete(loaded, plan, request, grammar, attempt)
            usage = usage + done.usage
            response, problem = _read(plan, done)
            if response is not None:
                return _finish(response, self, usage, started, attempt + 1)
            problems.append(f"attempt {attempt + 1}: {problem}")
        raise ModelOutputError(
            f"model {self._id!r} produced invalid output {RETRIES + 1} times "
            f"({'; '.join(problems)}); try a larger model or simplify the tools' schemas"
        )

    def _load(self) -> _llama.Loaded:
        if self._loaded is None:
            self._loaded = _llama.load(
                self._path, n_ctx=self._n_ctx, n_threads=self._n_threads, seed=self._seed
            )
        return self._loaded

    def _plan(self, request: ModelRequest) -> _Plan:
        offered = () if request.tool_choice == "none" else request.tools
        messages = _prompt.render_messages(
            request.messages,
            tools=offered,
            output_schema=request.output_schema,
            answer_only=request.tool_choice == "none",
        )
        if offered or request.tool_choice == "none":
            schema = _steps.step_schema(offered, allow_answer=request.tool_choice != "required")
            first_id = 1 + _count_tool_calls(request)
            return _Plan(
                messages=messages,
                schema=schema,
                parse=lambda text: _step_response(text, schema, first_id),
            )
        if request.output_schema is not None:
            schema = _steps.bound_schema(request.output_schema)
            return _Plan(
                messages=messages, schema=schema, parse=lambda text: _json_response(text, schema)
            )
        return _Plan(messages=messages, schema=None, parse=None)

    def _complete(
        self,
        loaded: _llama.Loaded,
        plan: _Plan,
        request: ModelRequest,
        grammar: Any,
        attempt: int,
    ) -> _Completion:
        settings = request.settings
        seed = settings.seed if settings.seed is not None else self._seed
        temperature = settings.temperature
        if attempt:  # a retry must not repeat a greedy failure
            seed, temperature = seed + attempt, max(temperature, RETRY_TEMPERATURE)
        try:
            raw = loaded.llama.create_chat_completion(
                messages=plan.messages,
                grammar=grammar,
                temperature=temperature,
                max_tokens=settings.max_tokens,
                seed=seed,
            )
        except ValueError as exc:  # e.g. "Requested tokens (5000) exceed context window"
            raise ModelError(f"model {self._id!r} failed: {exc}") from exc
        choice = raw["choices"][0]
        raw_usage = raw.get("usage") or {}
        return _Completion(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(
                input_tokens=int(raw_usage.get("prompt_tokens", 0)),
                output_tokens=int(raw_usage.get("completion_tokens", 0)),
            ),
        )


def _read(plan: _Plan, done: _Completion) -> tuple[ModelResponse | None, str]:
    """The response for a completion, or ``None`` and why the output is unusable."""
    if plan.parse is None:
        reason: FinishReason = "length" if done.finish_reason == "length" else "stop"
        return ModelResponse(text=done.text, finish_reason=reason), ""
    if done.finish_reason == "length":
        return None, f"output cut at max_tokens: {done.text[:80]!r}"
    try:
        return plan.parse(done.text), ""
    except _steps.StepError as exc:
        return None, str(exc)


def _step_response(text: str, schema: dict[str, Any], call_number: int) -> ModelResponse:
    step = _steps.parse_step(text, schema)
    if step.tool is None:
        return ModelResponse(text=step.answer, finish_reason="stop")
    call = ToolCall(id=f"call_{call_number}", name=step.tool, arguments=step.args or {})
    return ModelResponse(tool_calls=(call,), finish_reason="tool_calls")


def _json_response(text: str, schema: dict[str, Any]) -> ModelResponse:
    _steps.parse_json(text, schema)
    return ModelResponse(text=text.strip(), finish_reason="stop")


def _finish(
    response: ModelResponse, model: LocalModel, usage: Usage, started: float, attempts: int
) -> ModelResponse:
    return ModelResponse(
        text=response.text,
        tool_calls=response.tool_calls,
        finish_reason=response.finish_reason,
        usage=usage,
        model=model.id,
        model_version=model.model_version,
        latency_ms=(time.perf_counter() - started) * 1000,
        attempts=attempts,
    )


def _count_tool_calls(request: ModelRequest) -> int:
    """Tool calls already in the conversation: numbers new call ids deterministically."""
    return sum(len(m.tool_calls) for m in request.messages if isinstance(m, AssistantMessage))


def _grammar(schema: dict[str, Any]) -> Any:
    try:
        return _llama.grammar_for(schema)
    except ValueError as exc:
        raise ModelError(str(exc)) from exc
