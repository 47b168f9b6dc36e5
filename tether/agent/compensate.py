"""``tether runs compensate RUN``: undo a run's completed writes, newest first.

Each completed write (``write`` or ``high_risk`` tool, finished ok) is undone by its tool's
``compensate`` action, and the undo is journaled (``tool_compensated``, keyed by the write's own
position, so running the command twice undoes nothing twice). A write whose tool has no
``compensate`` action is journaled and reported as not undone; it is never skipped silently.

Each undo is a tool call under policy and the approval ladder like any other
(``tether.governance.compensation``): its decision is journaled (``compensation_decision``);
a denied undo is journaled and reported as not undone; one that needs a person stops the
command there (``waiting``) until the approval is decided, and the next run of the command
goes on from it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.errors import UsageError
from tether.events import Event, EventKey, ToolCallFinished, ToolCallStarted, ToolCompensated
from tether.governance.compensation import Ruling, rule
from tether.tools import Tool, ToolContext, to_jsonable

if TYPE_CHECKING:
    from tether.agent.context import RunContext
    from tether.runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class Compensation:
    tool: str
    call_id: str
    step: int
    ok: bool
    detail: str
    waiting: bool = False  # the undo waits for a person's approval (``approval_id``)
    approval_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "call_id": self.call_id,
            "step": self.step + 1,
            "ok": self.ok,
            "detail": self.detail,
            "waiting": self.waiting,
            "approval_id": self.approval_id,
        }


def completed_writes(events: list[Event]) -> list[tuple[Event, ToolCallStarted, Any]]:
    """(finished event, its intent, its result) for every write that completed, in order."""
    intents = {
        (e.key.segment, e.key.step, e.key.index): e.payload
        for e in events
        if isinstance(e.payload, ToolCallStarted)
    }
    done = []
    for e in events:
        p = e.payload
        if not isinstance(p, ToolCallFinished) or not p.ok:
            continue
        intent = intents.get((e.key.segment, e.key.step, e.key.index))
        if intent is not None and intent.side_effect in ("write", "high_risk"):
            done.append((e, intent, p.result))
    return done


async def compensate_run(runtime: Runtime, run_ref: str) -> list[Compensation]:
    record = runtime.store.runs.find(run_ref)
    if not record.status.is_final:
        raise UsageError(
            f"run {record.id!r} is {record.status.value}; cancel it before compensating"
        )
    if record.shadow_of is not None:
        raise UsageError(
            f"run {record.id!r} is a shadow of {record.shadow_of!r}: its writes were recorded, "
            "never executed, so there is nothing to undo"
        )
    ctx = runtime.rebuild(record.id, record.segment, upto_segment=False, need_model=False)
    events = runtime.store.journal.read(record.id)
    undone = {
        (e.key.segment, e.key.step, e.key.index)
        for e in events
        if isinstance(e.payload, ToolCompensated) and e.payload.ok
    }
    report = []
    for finished, intent, result in reversed(completed_writes(events)):
        position = (finished.key.segment, finished.key.step, finished.key.index)
        if position in undone:
            continue
        done = await _undo(ctx, finished, intent, result, by=runtime.settings.user)
        report.append(done)
        if done.waiting:  # newest first: the older writes wait for this one
            break
    return report


async def _undo(
    ctx: RunContext, finished: Event, intent: ToolCallStarted, result: Any, *, by: str | None
) -> Compensation:
    key = finished.key
    tool = ctx.registry.get(intent.tool)
    ruling: Ruling | None = None
    if tool is not None and tool.compensate is not None:
        ruling = await rule(ctx, finished, intent, tool.contract, by=by)
        if ruling.outcome == "waiting":
            return Compensation(
                tool=intent.tool,
                call_id=intent.call_id,
                step=key.step,
                ok=False,
                detail=ruling.detail,
                waiting=True,
                approval_id=ruling.approval_id,
            )
    if tool is None or tool.compensate is None:
        ok, detail, value = False, f"tool {intent.tool!r} has no compensate action", None
    elif ruling is not None and ruling.outcome == "refused":
        ok, detail, value = False, ruling.detail, None
    else:
        ok, detail, value = await _run_undo(ctx, tool, intent, result)
    await ctx.record(
        EventKey(
            run_id=key.run_id,
            segment=key.segment,
            step=key.step,
            kind="tool_compensated",
            index=key.index,
        ),
        ToolCompensated(
            call_id=intent.call_id,
            tool=intent.tool,
            ok=ok,
            result=value,
            error=None if ok else detail,
        ),
    )
    return Compensation(
        tool=intent.tool,
        call_id=intent.call_id,
        step=key.step,
        ok=ok,
        detail=detail,
        approval_id=ruling.approval_id if ruling is not None else None,
    )


async def _run_undo(
    ctx: RunContext, tool: Tool, intent: ToolCallStarted, result: Any
) -> tuple[bool, str, Any]:
    """Run the tool's compensate action: (ok, detail, its result)."""
    assert tool.compensate is not None
    tool_ctx = ToolContext(
        run_id=ctx.run_id,
        idempotency_key="compensate:" + intent.idempotency_key,
        call_id=intent.call_id,
        workspace=ctx.settings.workspace,
        secrets=ctx.secrets.for_tool(tool.name, tool.contract.secrets),
    )
    try:
        value = to_jsonable(
            await asyncio.to_thread(tool.compensate, tool_ctx, intent.arguments, result)
        )
    except Exception as exc:  # reported per write; the others are still undone
        return False, f"{type(exc).__name__}: {exc}", None
    return True, "undone", value
