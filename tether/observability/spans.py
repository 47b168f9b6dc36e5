"""One run's journal events -> span specs (pure: values in, values out; no OpenTelemetry).

The spans follow the OpenTelemetry GenAI semantic conventions (``shared/data/otel-semconv``):

- the run: ``invoke_agent {agent}`` (``span.gen_ai.invoke_agent.internal``, kind INTERNAL);
- each model call: ``chat {model}`` (``span.gen_ai.inference.client``, kind CLIENT);
- each tool call: ``execute_tool {tool}`` (``span.gen_ai.execute_tool.internal``, INTERNAL).

Spans carry metadata only: no prompt, answer, tool argument or tool result, and no free-text
error message (``error.type`` and the status description are low-cardinality codes). Times
come from the events' ``ts``; a model or tool span ends at its outcome's ``ts`` and starts
``latency_ms`` earlier (request and response are journaled in one commit), clamped to the run.

``error.type`` values: a run span carries its final status (``failed``, ``cancelled``,
``killed``, ``budget_exceeded``, ``max_steps``, ``no_progress``); a model span ``ModelError``;
a tool span the tool error's ``code`` (``invalid_arguments``, ``unknown_tool``, ``timeout``,
``tool_error``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from tether.errors import UsageError
from tether.events import (
    Event,
    ModelRequested,
    ModelResponded,
    RunFinished,
    RunStarted,
    ToolCallFinished,
    ToolCallStarted,
)

AttributeValue = str | bool | int | float | list[str]
Attributes = dict[str, AttributeValue]
SpanKindName = Literal["internal", "client"]

# provider prefixes of model ids -> gen_ai.provider.name (the registry's well-known values pass
# through unchanged: openai, anthropic, groq, ...)
_PROVIDERS: Mapping[str, str] = {"local": "llama.cpp"}
# final statuses that mean the agent invocation ended in an error
_ERROR_STATUSES = frozenset(
    {"failed", "cancelled", "killed", "budget_exceeded", "max_steps", "no_progress"}
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_Slot = tuple[int, int, int]  # (segment, step, index): pairs a start event with its outcome
_P = TypeVar("_P")


@dataclass(frozen=True, kw_only=True)
class SpanSpec:
    """One span to emit: times in ns since the epoch; ``error`` is the status description of a
    failed operation (None: it did not fail)."""

    name: str
    kind: SpanKindName
    start_ns: int
    end_ns: int
    attributes: Attributes
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunSpans:
    """The run's root span and its children (model and tool calls, in journal order)."""

    root: SpanSpec
    children: list[SpanSpec] = field(default_factory=list)


def provider_name(model_id: str) -> str:
    """``gen_ai.provider.name`` for a model id: its ``provider:`` prefix, or the whole id."""
    prefix = model_id.partition(":")[0]
    return _PROVIDERS.get(prefix, prefix)


def plan_run(events: Sequence[Event]) -> RunSpans:
    """The spans of one run's journal events (as :meth:`Journal.read` returns them)."""
    if not events:
        raise UsageError("export_run needs the run's journal events; got none")
    run_ids = {e.key.run_id for e in events}
    if len(run_ids) != 1:
        raise UsageError(f"export_run takes the events of one run; got runs {sorted(run_ids)!r}")
    run_start = min(_ns(e) for e in events)
    run_end = max(_ns(e) for e in events)
    window = (run_start, run_end)
    children: list[SpanSpec] = []
    requests: dict[_Slot, Event] = {}
    starts: dict[_Slot, Event] = {}
    for event in events:
        p, slot = event.payload, _slot(event)
        if isinstance(p, ModelRequested):
            requests[slot] = event
        elif isinstance(p, ModelResponded):
            children.append(_chat_span(requests.pop(slot, None), event, window))
        elif isinstance(p, ToolCallStarted):
            starts[slot] = event
        elif isinstance(p, ToolCallFinished):
            children.append(_tool_span(starts.pop(slot, None), event, window))
    # calls a crash interrupted: their outcome was never journaled
    children += [_chat_span(e, None, window) for e in requests.values()]
    children += [_tool_span(e, None, window) for e in starts.values()]
    return RunSpans(root=_run_span(events, window), children=children)


def _run_span(events: Sequence[Event], window: tuple[int, int]) -> SpanSpec:
    run_id = events[0].key.run_id
    started = _first(events, RunStarted)
    finished = _first(events[::-1], RunFinished)  # the last: a paused run goes on
    responses = [e.payload for e in events if isinstance(e.payload, ModelResponded)]
    attrs: Attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.conversation.id": run_id,
        "tether.run.id": run_id,
    }
    if started is not None:
        attrs |= {
            "gen_ai.provider.name": provider_name(started.model),
            "gen_ai.request.model": started.model,
            "gen_ai.agent.name": started.agent,
            "gen_ai.agent.version": started.agent_version,
            "tether.version": started.tether_version,
        }
        description = started.agent_spec.get("description")
        if isinstance(description, str) and description:
            attrs["gen_ai.agent.description"] = description
    first_request = _first(events, ModelRequested)
    if first_request is not None:
        attrs |= _request_settings(first_request)
    answered = [r for r in responses if r.error is None]
    if answered:
        attrs["gen_ai.response.finish_reasons"] = [answered[-1].finish_reason]
    attrs |= _run_totals(finished, responses)
    error = None
    if finished is not None and finished.status in _ERROR_STATUSES:
        error = attrs["error.type"] = finished.status
    name = f"invoke_agent {started.agent}" if started is not None else "invoke_agent"
    return SpanSpec(
        name=name,
        kind="internal",
        start_ns=window[0],
        end_ns=window[1],
        attributes=attrs,
        error=error,
    )


def _run_totals(finished: RunFinished | None, responses: Sequence[ModelResponded]) -> Attributes:
    if finished is None:  # still running or paused: what the journal holds so far
        return {
            "gen_ai.usage.input_tokens": sum(r.input_tokens for r in responses),
            "gen_ai.usage.output_tokens": sum(r.output_tokens for r in responses),
        }
    return {
        "tether.run.status": finished.status,
        "gen_ai.usage.input_tokens": finished.input_tokens,
        "gen_ai.usage.output_tokens": finished.output_tokens,
        "tether.run.cost": finished.cost,
        "tether.run.steps": finished.steps,
        "tether.run.tool_calls": finished.tool_calls,
    }


def _chat_span(request: Event | None, response: Event | None, window: tuple[int, int]) -> SpanSpec:
    req = request.payload if request is not None else None
    resp = response.payload if response is not None else None
    assert req is None or isinstance(req, ModelRequested)
    assert resp is None or isinstance(resp, ModelResponded)
    model = req.model if req is not None else resp.model if resp is not None else ""
    anchor = request if request is not None else response
    assert anchor is not None
    attrs: Attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(model),
        "gen_ai.request.model": model,
        "gen_ai.conversation.id": anchor.key.run_id,
        "tether.step": anchor.key.step,
    }
    if req is not None:
        attrs |= _request_settings(req)
    error = None
    if resp is None:
        attrs["tether.incomplete"] = True
    elif resp.error is not None:
        error = attrs["error.type"] = "ModelError"
        attrs["tether.model.attempts"] = resp.attempts
    else:
        attrs |= _response_attributes(resp)
    start, end = _times(request, response, resp.latency_ms if resp else 0.0, window)
    return SpanSpec(
        name=f"chat {model}",
        kind="client",
        start_ns=start,
        end_ns=end,
        attributes=attrs,
        error=error,
    )


def _response_attributes(resp: ModelResponded) -> Attributes:
    attrs: Attributes = {
        "gen_ai.response.model": resp.model,
        "gen_ai.response.finish_reasons": [resp.finish_reason],
        "gen_ai.usage.input_tokens": resp.input_tokens,
        "gen_ai.usage.output_tokens": resp.output_tokens,
        "tether.model.attempts": resp.attempts,
        "tether.model.cached": resp.cached,
        "tether.model.cost": resp.cost,
    }
    if resp.model_version:
        attrs["tether.model.version"] = resp.model_version
    if resp.fallbacks:
        attrs["tether.model.fallbacks"] = list(resp.fallbacks)
    return attrs


def _request_settings(p: ModelRequested) -> Attributes:
    """The request parameters the conventions name (never the messages)."""
    s = p.settings
    attrs: Attributes = {}
    if _is_number(s.get("temperature")):
        attrs["gen_ai.request.temperature"] = float(s["temperature"])
    if _is_int(s.get("max_tokens")):
        attrs["gen_ai.request.max_tokens"] = int(s["max_tokens"])
    if _is_int(s.get("seed")):
        attrs["gen_ai.request.seed"] = int(s["seed"])
    if p.output_schema is not None:
        attrs["gen_ai.output.type"] = "json"
    return attrs


def _tool_span(started: Event | None, finished: Event | None, window: tuple[int, int]) -> SpanSpec:
    start_p = started.payload if started is not None else None
    fin = finished.payload if finished is not None else None
    assert start_p is None or isinstance(start_p, ToolCallStarted)
    assert fin is None or isinstance(fin, ToolCallFinished)
    named = fin if fin is not None else start_p
    anchor = started if started is not None else finished
    assert named is not None and anchor is not None
    attrs: Attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": named.tool,
        "gen_ai.tool.call.id": named.call_id,
        "gen_ai.tool.type": "function",
        "tether.step": anchor.key.step,
    }
    if start_p is not None:
        attrs |= {
            "tether.tool.side_effect": start_p.side_effect,
            "tether.tool.validated": start_p.validated,
            "tether.tool.idempotency_key": start_p.idempotency_key,
        }
    error = None
    if fin is None:
        attrs["tether.incomplete"] = True
    else:
        attrs["tether.tool.attempts"] = fin.attempts
        if not fin.ok:
            code = (fin.error or {}).get("code")
            error = attrs["error.type"] = code if isinstance(code, str) and code else "tool_error"
    start, end = _times(started, finished, fin.latency_ms if fin else 0.0, window)
    return SpanSpec(
        name=f"execute_tool {named.tool}",
        kind="internal",
        start_ns=start,
        end_ns=end,
        attributes=attrs,
        error=error,
    )


def _times(
    begin: Event | None, outcome: Event | None, latency_ms: float, window: tuple[int, int]
) -> tuple[int, int]:
    """A call's (start, end): it ends at its outcome and began ``latency_ms`` before (or at its
    start event, if that is earlier), within the run's window."""
    if outcome is None:
        assert begin is not None
        end = start = _ns(begin)
    else:
        end = _ns(outcome)
        start = end - round(latency_ms * 1_000_000)
        if begin is not None:
            start = min(start, _ns(begin))
    run_start, run_end = window
    end = min(max(end, run_start), run_end)
    return min(max(start, run_start), end), end


def _ns(event: Event) -> int:
    """The event's ``ts`` as integer ns since the epoch (naive times are taken as UTC)."""
    ts = event.ts
    if ts is None:
        raise UsageError(
            f"event {event.id!r} has no ts; export stored events (Journal.read), not new ones"
        )
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - _EPOCH) // timedelta(microseconds=1) * 1000


def _slot(event: Event) -> _Slot:
    return (event.key.segment, event.key.step, event.key.index)


def _first(events: Sequence[Event], kind: type[_P]) -> _P | None:
    return next((e.payload for e in events if isinstance(e.payload, kind)), None)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
