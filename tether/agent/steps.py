"""The recordable steps of a run: one model call, one tool call, the finish.

Each step takes small values (the context, a step position, a call index) and returns
references (the ids of the journal events that hold its results), never payloads. That is the
shape a durable step needs (DESIGN §2.2): the durable layer records the references, the journal
holds the data. In durable mode (``ctx.check_journal``) a step whose result is already journaled
returns it without redoing the work: a crash between the journal's commit and the durable
layer's cannot repeat a model call or a tool call.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from decimal import Decimal

from tether.agent.context import RunContext
from tether.agent.memory.step import condense, journaled_refs, request_size
from tether.agent.memory.window import head
from tether.agent.prompt import build_request
from tether.agent.refuse import refused_call
from tether.agent.state import message_to_dict
from tether.agent.stops import StepRefs, pause_step, stop_refs
from tether.errors import ModelError, ToolError
from tether.evals.autochecks import run_check_events
from tether.events import (
    EventKey,
    ModelRequested,
    ModelResponded,
    Payload,
    RunFinished,
    ToolCallFinished,
    ToolCallStarted,
)
from tether.governance.approved import resumed_call
from tether.governance.budget import model_charge, tool_charge
from tether.governance.guard_hooks import guard_input, guard_output, guard_tool
from tether.governance.hooks import authorize_model, authorize_tool
from tether.governance.taint import result_origin
from tether.memory.audit import memory_events
from tether.models.base import Model, StreamingModel
from tether.tools import PreparedCall, ToolContext, ToolOutcome, to_jsonable
from tether.types import ModelRequest, ModelResponse, RunStatus, TextDelta


def idempotency_key(run_id: str, segment: int, step: int, index: int) -> str:
    """``sha256(run_id, segment, step position, call index)`` (DESIGN §2.2)."""
    raw = f"{run_id}\x1f{segment}\x1f{step}\x1f{index}".encode()
    return hashlib.sha256(raw).hexdigest()


async def model_step(ctx: RunContext, step: int) -> StepRefs:
    """Ask the model for the next step; journal the request and the response.

    A model failure is journaled as a response with ``error`` set (not raised), so the loop
    decides what it means and the durable layer stores only references.
    """
    request_key, response_key = ctx.key(step, "model_request"), ctx.key(step, "model_response")
    charge_key = ctx.key(step, "budget_charged")
    if await ctx.journaled(response_key) is not None:
        memory = await journaled_refs(ctx, step)
        return (*memory, request_key.id, response_key.id, charge_key.id)
    blocked = await guard_input(ctx, step)  # before the first model call, so before any tool
    if blocked is not None:
        return blocked
    windowed = ctx.request_builder is None  # plan and reflect build their own prompts
    memory = await condense(ctx, step) if windowed else ()  # the prompt fits its budget
    request = (ctx.request_builder or build_request)(ctx)
    size = None  # the prompt's tokens; a tokenizer runs off the event loop
    if ctx.working is not None:
        size = await asyncio.to_thread(request_size, ctx.working, request)
    journaled_request = (request_key, _request_payload(ctx, request, size, windowed=windowed))
    gated = await authorize_model(ctx, step, request)
    if gated.refs is not None:
        return (*memory, *gated.refs)
    started = time.perf_counter()
    try:
        if gated.model is None:
            raise ModelError(gated.denied or "policy denied the model call")
        response = await _call_model(ctx, request, gated.model)
    except ModelError as exc:
        failed = ModelResponded(
            model=ctx.model.id,
            error=str(exc),
            finish_reason="error",
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        await ctx.record_many(
            [
                *gated.events,
                journaled_request,
                (response_key, failed),
                (charge_key, model_charge(failed)),
            ]
        )
        return (*memory, request_key.id, response_key.id, charge_key.id)
    latency = response.latency_ms or (time.perf_counter() - started) * 1000
    payload = _response_payload(ctx, response, latency)
    # one commit for all: a crash before it loses nothing but a model call to redo, and the
    # charge (keyed by the step) is journaled exactly when the response is
    await ctx.record_many(
        [
            *gated.events,
            journaled_request,
            (response_key, payload),
            (charge_key, model_charge(payload)),
        ]
    )
    return (*memory, request_key.id, response_key.id, charge_key.id)


def _request_payload(
    ctx: RunContext, request: ModelRequest, size: int | None, *, windowed: bool
) -> ModelRequested:
    """The request as journaled: the system message, the conversation messages not journaled
    before (a delta), and working memory's summaries (``memory``) with the window's start
    (``windowed``: the prompt is the ReAct one, with working memory's window)."""
    state = ctx.state
    cut = state.memory.cut if windowed else 0
    memory = head(state.memory, state.messages) if windowed else []
    system, shown = request.messages[0], request.messages[1 + len(memory) :]
    prefix = max(state.journaled_messages, cut)
    return ModelRequested(
        model=ctx.model.id,
        messages=[message_to_dict(m) for m in (system, *shown[prefix - cut :])],
        prefix=prefix,
        transient=len(shown) - (len(state.messages) - cut),
        tools=[t.name for t in request.tools],
        settings={
            "temperature": request.settings.temperature,
            "max_tokens": request.settings.max_tokens,
            "seed": request.settings.seed,
        },
        output_schema=request.output_schema,
        start=cut,
        memory=[message_to_dict(m) for m in memory],
        prompt_tokens=size,
    )


async def _call_model(ctx: RunContext, request: ModelRequest, model: Model) -> ModelResponse:
    """Ask the model; stream its text to ``ctx.on_delta`` when both sides can."""
    if ctx.on_delta is None or not isinstance(model, StreamingModel):
        return await model.request(request)
    async for event in model.stream(request):
        if isinstance(event, TextDelta):
            ctx.on_delta(event.text)
        else:
            return event.response
    raise ModelError(f"model {model.id!r} ended its stream without a response")


def _response_payload(
    ctx: RunContext, response: ModelResponse, latency_ms: float
) -> ModelResponded:
    return ModelResponded(
        model=response.model or ctx.model.id,
        model_version=response.model_version,
        text=response.text,
        tool_calls=[
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
        ],
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        cost=str(response.cost or Decimal(0)),
        latency_ms=round(latency_ms, 3),
        finish_reason=response.finish_reason,
        attempts=response.attempts,
        cached=response.cached,
        fallbacks=list(response.fallbacks),
    )


async def tool_step(ctx: RunContext, step: int, index: int) -> StepRefs:
    """Validate and execute call ``index`` of the model's last response; journal intent
    before and outcome after.

    A call the model can fix (unknown tool, bad arguments) never reaches a tool: it comes back
    to the model as a structured error result.
    """
    refs = call_refs(ctx, step, index)
    charge_key = ctx.key(step, "budget_charged", index + 1)
    if await ctx.journaled(ctx.key(step, "tool_call_finished", index)) is not None:
        charged = await ctx.journaled(charge_key) is not None  # rejected calls are not charged
        return (*refs, charge_key.id) if charged else refs
    key = idempotency_key(ctx.run_id, ctx.segment, step, index)
    call, key = resumed_call(ctx.state, step, index, ctx.state.pending_calls[index], key)
    try:
        prepared = ctx.executor.prepare(ctx.registry, call)
    except ToolError as exc:
        await reject_call(ctx, step, index, key, exc)
        return refs
    blocked = await guard_tool(ctx, step, index, call, prepared.tool.contract.name)
    if blocked is not None:
        return blocked
    gated = await authorize_tool(ctx, step, index, prepared, key)
    if gated.refs is not None:
        return gated.refs
    contract = prepared.tool.contract
    intent = call_intent(ctx, step, index, prepared, key)
    tool_ctx = tool_context(ctx, prepared, key)
    if contract.side_effect != "read" and await ctx.journaled(intent[0]) is not None:
        resumed = await resume_write(ctx, prepared, tool_ctx, step, index)
        if resumed is not None:
            return resumed
    # a side effect's intent is committed before the call; a read's goes with its outcome
    if contract.side_effect != "read":
        await ctx.record_many([*gated.events, intent], commit=True)
    outcome = await ctx.executor.execute(prepared, tool_ctx)
    finished = call_finished(ctx, step, index, prepared, outcome)
    spent = contract.cost if outcome.attempts > 0 else Decimal(0)  # as in call_finished
    charge = (charge_key, tool_charge(contract.name, spent))
    audit = memory_events(  # a memory tool's reads and writes, by item id
        ctx.key, step, index, prepared.tool, outcome.ok, outcome.result, prepared.call.id
    )
    await ctx.record_many(
        [*gated.events, intent, finished, charge, *audit]
        if contract.side_effect == "read"
        else [finished, charge, *audit]
    )
    return (*refs, charge_key.id)


Journaled = tuple[EventKey, Payload]


def call_refs(ctx: RunContext, step: int, index: int) -> StepRefs:
    """The ids of the intent and outcome events of call ``index``."""
    return (
        ctx.key(step, "tool_call_started", index).id,
        ctx.key(step, "tool_call_finished", index).id,
    )


async def reject_call(ctx: RunContext, step: int, index: int, key: str, exc: ToolError) -> None:
    """Journal a call that failed validation (unknown tool, bad arguments) as an error the
    model can act on; the tool is never called."""
    call = ctx.state.pending_calls[index]
    error = exc.to_result()["error"] | {
        "requested_tool": call.name,
        "requested_arguments": call.arguments,
    }
    await ctx.record_many(refused_call(ctx, step, index, call, error, key))


def call_intent(
    ctx: RunContext, step: int, index: int, prepared: PreparedCall, key: str
) -> Journaled:
    contract = prepared.tool.contract
    return (
        ctx.key(step, "tool_call_started", index),
        ToolCallStarted(
            call_id=prepared.call.id,
            tool=contract.name,
            arguments=prepared.arguments,
            idempotency_key=key,
            side_effect=contract.side_effect,
        ),
    )


def tool_context(ctx: RunContext, prepared: PreparedCall, key: str) -> ToolContext:
    """What the tool sees: run facts and only the secrets its contract declares."""
    contract = prepared.tool.contract
    return ToolContext(
        run_id=ctx.run_id,
        idempotency_key=key,
        call_id=prepared.call.id,
        workspace=ctx.settings.workspace,
        secrets=ctx.secrets.for_tool(contract.name, contract.secrets),
    )


def call_finished(
    ctx: RunContext, step: int, index: int, prepared: PreparedCall, outcome: ToolOutcome
) -> Journaled:
    contract = prepared.tool.contract
    return (
        ctx.key(step, "tool_call_finished", index),
        ToolCallFinished(
            call_id=prepared.call.id,
            tool=contract.name,
            ok=outcome.ok,
            result=outcome.result,
            error=outcome.error,
            latency_ms=round(outcome.latency_ms, 3),
            attempts=outcome.attempts,
            cached=getattr(outcome, "cached", False),
            fallback_from=getattr(outcome, "fallback_from", None),
            cost=str(contract.cost) if outcome.attempts > 0 else "0",
            origin=result_origin(contract),
            trusted=contract.trusted_output,
        ),
    )


async def finish_step(
    ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
) -> StepRefs:
    """Journal ``run_finished`` and write the final status, usage and output to the run
    (or, for ``paused``, end the segment: :func:`~tether.agent.stops.pause_step`)."""
    if status is RunStatus.PAUSED:
        return await pause_step(ctx, reason)
    s = ctx.state
    key = ctx.key(s.steps, "run_finished")
    status, output, reason, verdicts = guard_output(ctx, s.steps, status, output, reason)
    if await ctx.journaled(key) is None:
        finished = (
            key,
            RunFinished(
                status=status.value,
                output=output,
                reason=reason,
                input_tokens=s.usage.input_tokens,
                output_tokens=s.usage.output_tokens,
                cost=str(s.cost),
                steps=s.steps,
                tool_calls=s.tool_calls,
            ),
        )
        checked = await run_check_events(ctx, s.steps)  # per-run automatic checks
        await ctx.record_many([*verdicts, *checked, finished])
    await asyncio.to_thread(
        ctx.store.runs.update,
        ctx.run_id,
        status=status,
        output=output,
        reason=reason,
        input_tokens=s.usage.input_tokens,
        output_tokens=s.usage.output_tokens,
        cost_micros=int(s.cost * 1_000_000),
        steps=s.steps,
        tool_calls=s.tool_calls,
        finished_at=ctx.clock.now(),
    )
    if ctx.agent.memory is None:
        return (key.id,)
    from tether.memory.finish import record_episode  # numpy and the embedder: only when used

    return (key.id, *await record_episode(ctx))


async def resume_write(
    ctx: RunContext, prepared: PreparedCall, tool_ctx: ToolContext, step: int, index: int
) -> StepRefs | None:
    """A write whose intent was journaled before a crash but whose outcome was not: it may
    or may not have happened. Re-send it (idempotent tools: same key), ask the tool
    (``reconcile``), or stop the run for a person (``needs_review``). None means: execute."""
    tool = prepared.tool
    if tool.contract.idempotent:
        return None
    if tool.reconcile is None:
        return stop_refs(
            RunStatus.NEEDS_REVIEW,
            f"tool {tool.contract.name!r} (call {tool_ctx.idempotency_key[:12]}) may have run "
            "before a crash and is neither idempotent nor reconcilable; check its effect, "
            "then compensate or re-run",
        )
    happened = await asyncio.to_thread(tool.reconcile, tool_ctx)
    if happened is None:
        return None
    finished_key = ctx.key(step, "tool_call_finished", index)
    charge_key = ctx.key(step, "budget_charged", index + 1)
    await ctx.record_many(
        [
            (
                finished_key,
                ToolCallFinished(
                    call_id=prepared.call.id,
                    tool=tool.contract.name,
                    ok=True,
                    result=to_jsonable(happened),
                    reconciled=True,
                    origin=result_origin(tool.contract),
                    trusted=tool.contract.trusted_output,
                ),
            ),
            (charge_key, tool_charge(tool.contract.name, tool.contract.cost)),
        ]
    )
    return (ctx.key(step, "tool_call_started", index).id, finished_key.id, charge_key.id)
