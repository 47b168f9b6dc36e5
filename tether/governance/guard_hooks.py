"""Guardrails in the run's steps: each verdict journaled as a ``guardrail_verdict`` event.

- ``guard_input`` runs in the first model step, before the model is called: a blocked goal
  ends the run ``failed`` with the rule named, so no model call and no tool call happens;
- ``guard_tool`` runs before a call's policy decision: a tool outside the allow list gets a
  structured error result (code ``guardrail_blocked``) and never runs;
- ``guard_output`` runs in the finish step on a ``succeeded`` answer: a block turns the run
  ``failed`` (no output), a redaction replaces the output with the redacted answer.

The checks are pure functions of the goal, the call or the answer, and the events are keyed
by their position, so a durable replay journals the same verdicts once and decides alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from tether.agent.context import RunContext
from tether.agent.refuse import refused_call
from tether.agent.stops import StepRefs, stop_refs
from tether.events import EventKey, GuardrailVerdict, Payload
from tether.governance.guardrails import (
    Check,
    check_input,
    check_output,
    check_tool,
    first_block,
)
from tether.redact import Redactor
from tether.types import RunStatus, ToolCall

Staged = list[tuple[EventKey, Payload]]


def _verdicts(
    ctx: RunContext,
    step: int,
    stage: str,
    checks: Sequence[Check],
    *,
    base: int = 0,
    call_id: str | None = None,
) -> Staged:
    return [
        (
            ctx.key(step, "guardrail_verdict", base + n),
            GuardrailVerdict(
                stage=stage,
                rule=c.rule,
                verdict=c.verdict,
                detail=c.detail,
                call_id=call_id,
            ),
        )
        for n, c in enumerate(checks)
    ]


async def guard_input(ctx: RunContext, step: int) -> StepRefs | None:
    """Check the goal before the run's first model call; stop refs when it is blocked."""
    g = ctx.agent.guardrails
    if g is None or step != 0:
        return None
    checks = check_input(g.input, ctx.state.goal)
    if not checks:
        return None
    await ctx.record_many(_verdicts(ctx, step, "input", checks))
    blocked = first_block(checks)
    if blocked is None:
        return None
    return stop_refs(
        RunStatus.FAILED,
        f"input guardrail {blocked.rule!r} blocked the request ({blocked.detail}); "
        "rephrase it or change the agent's guardrails",
    )


async def guard_tool(
    ctx: RunContext, step: int, index: int, call: ToolCall, name: str
) -> StepRefs | None:
    """Refuse a call to tool ``name`` outside the allow list (the model gets an error)."""
    g = ctx.agent.guardrails
    check = None if g is None else check_tool(g, name)
    if check is None or not check.blocks:
        return None
    error = {
        "code": "guardrail_blocked",
        "message": f"{check.detail} by the agent's guardrails; use one of {g.tools if g else []}",
    }
    refused = refused_call(ctx, step, index, call, error)
    verdicts = _verdicts(ctx, step, "tool", [check], base=1000 + index, call_id=call.id)
    await ctx.record_many([*verdicts, *refused])
    return tuple(key.id for key, _ in refused)


def guard_output(
    ctx: RunContext, step: int, status: RunStatus, output: str | None, reason: str | None
) -> tuple[RunStatus, str | None, str | None, Staged]:
    """The final status, output and reason after the output guardrail, and its verdicts."""
    g = ctx.agent.guardrails
    if g is None or status is not RunStatus.SUCCEEDED or output is None:
        return status, output, reason, []
    checks, shown = check_output(g.output, output, Redactor())
    staged = _verdicts(ctx, step, "output", checks)
    blocked = first_block(checks)
    if blocked is not None:
        why = f"output guardrail {blocked.rule!r} blocked the answer ({blocked.detail})"
        return RunStatus.FAILED, None, why, staged
    return status, shown, reason, staged
