"""The supervisor protocol: a manager role delegates through handoff tools and synthesizes.

The manager's model sees one tool per worker (``handoff_to_<role>(task)``). When it calls
them, the team runs each worker's turn (several at once when the model asks for several),
journals a ``handoff`` event and gives the worker's answer back to the manager as the tool
call's result; the arbiter may refuse a handoff (over ``max_turns``, or the same task to the
same role again), and the manager then gets the reason as the tool's error. Other tools of the
manager run as usual. The manager's final answer is the team's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tether.agent.context import RunContext
from tether.agent.loop import Act, Finish, Node, Think
from tether.agent.runner import StepRunner
from tether.events import Handoff, ToolCallFinished, ToolCallStarted
from tether.team import arbiter
from tether.team.protocols import Outcome
from tether.team.run import TeamRun, TurnResult
from tether.tools import Tool, tool
from tether.types import RunStatus, ToolCall

PREFIX = "handoff_to_"


def handoff_tools(tr: TeamRun) -> list[Tool]:
    """One tool per worker; the team intercepts the calls (the functions never run)."""
    found = []
    for role in tr.team.roles:
        if role.name == tr.team.manager:
            continue
        what = role.description or role.instructions or role.agent.instructions
        found.append(_handoff_tool(role.name, what.strip().splitlines()[0][:200]))
    return found


def _handoff_tool(role: str, what: str) -> Tool:
    def handoff(task: str) -> dict[str, Any]:
        """Hand a task to a team member.

        Args:
            task: what the team member should do, with everything it needs to know.
        """
        return {"error": "handoffs are run by the team, not called directly"}

    handoff.__doc__ = (
        f"Hand a task to the team member {role!r} ({what}) and get its answer back.\n\n"
        "Args:\n    task: what it should do, with everything it needs to know."
    )
    made: Tool = tool(name=f"{PREFIX}{role}".replace("-", "_"))(handoff)
    return made


async def supervisor(tr: TeamRun, goal: str) -> Outcome:
    manager = tr.team.manager
    assert manager is not None
    tools = handoff_tools(tr)
    names = {t.contract.name: r.name for t, r in zip(tools, _workers(tr), strict=True)}

    async def drive(ctx: RunContext, runner: StepRunner) -> None:
        node: Node = Think()
        while not isinstance(node, Finish):
            if isinstance(node, Act):
                node = await _delegate(tr, ctx, node, names)
                if isinstance(node, Finish):
                    break
            node = await node.run(ctx, runner)
        await node.run(ctx, runner)

    stop = arbiter.before_turn(tr.team.arbiter, tr.allocated, manager)
    if stop is not None:
        await tr.decide(stop)
        return stop.status or RunStatus.FAILED, None, stop.reason
    got = await tr.turn(manager, goal, extra_tools=tools, drive=drive)
    if isinstance(got, arbiter.Decision):
        return got.status or RunStatus.FAILED, None, got.reason
    reason = got.reason if got.status is RunStatus.SUCCEEDED else f"role {manager!r}: {got.reason}"
    return got.status, got.output, reason


def _workers(tr: TeamRun) -> list[Any]:
    return [r for r in tr.team.roles if r.name != tr.team.manager]


async def _delegate(tr: TeamRun, ctx: RunContext, act: Act, names: dict[str, str]) -> Node:
    """Run the handoffs among ``act``'s calls; the other calls are left to ``Act``."""
    picked = [(i, c) for i, c in enumerate(act.calls) if c.name in names and i not in act.done]
    if not picked:
        return act
    at_once = len(picked) if tr.parallel else 1
    jobs = [_one(tr, ctx, act.step, i, c, names[c.name], at_once) for i, c in picked]
    if tr.parallel:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(j) for j in jobs]
        results = [t.result() for t in tasks]
    else:
        results = [await j for j in jobs]
    for i, c, outcome in zip((i for i, _ in picked), (c for _, c in picked), results, strict=True):
        await _record_result(ctx, act.step, i, c, outcome)
    done = act.done | {i for i, _ in picked}
    allowed = tr.allowance(ctx.agent.name, besides=tr.turn_of(ctx))
    if isinstance(allowed, arbiter.Decision):  # the workers used up what the team had
        await tr.decide(allowed)
        return Finish(status=RunStatus.BUDGET_EXCEEDED, reason=allowed.reason)
    ctx.budgets = _with_run(ctx, allowed)
    if len(done) == len(act.calls):
        return Think()
    return Act(step=act.step, calls=act.calls, done=frozenset(done))


def _with_run(ctx: RunContext, allowed: Any) -> Any:
    from dataclasses import replace

    return replace(ctx.budgets, run=allowed)


async def _one(
    tr: TeamRun, ctx: RunContext, step: int, index: int, call: ToolCall, role: str, at_once: int
) -> TurnResult | arbiter.Decision:
    task = str(call.arguments.get("task") or "").strip()
    handed = [(h.to_role, h.task) for h in tr.handoffs]
    refused = (
        arbiter.Decision(
            decision="refuse", rule="bad_arguments", reason="a handoff needs a 'task'", role=role
        )
        if not task
        else arbiter.refuse_handoff(tr.team.arbiter, tr.allocated, handed, role, task)
    )
    manager = ctx.agent.name
    if refused is not None:
        await tr.decide(refused)
        payload = Handoff(from_role=manager, to_role=role, task=task, call_id=call.id)
        tr.handoffs.append(payload)
        await ctx.record(ctx.key(step, "handoff", index), payload)
        return refused
    slot = tr.allocate(role)  # before any await: parallel handoffs number in call order
    allowed = tr.allowance(role)  # ... and get their share of the same remainder
    payload = Handoff(from_role=manager, to_role=role, task=task, call_id=call.id, turn=slot[0])
    tr.handoffs.append(payload)
    await ctx.record(ctx.key(step, "handoff", index), payload)
    return await tr.turn(
        role, task, delegated_by=manager, slot=slot, parallel=at_once, allowed=allowed
    )


async def _record_result(
    ctx: RunContext, step: int, index: int, call: ToolCall, got: TurnResult | arbiter.Decision
) -> None:
    started = ToolCallStarted(
        call_id=call.id,
        tool=call.name,
        arguments=dict(call.arguments),
        idempotency_key="",
        side_effect="read",
    )
    if isinstance(got, arbiter.Decision):
        ok, result, error = False, None, {"code": "handoff_refused", "message": got.reason}
    elif got.status is RunStatus.SUCCEEDED:
        ok, result, error = True, {"role": got.role, "answer": got.output}, None
    else:
        message = f"{got.role!r} stopped ({got.status.value}): {got.reason}"
        ok, result, error = False, None, {"code": "handoff_failed", "message": message}
    finished = ToolCallFinished(
        call_id=call.id,
        tool=call.name,
        ok=ok,
        result=result,
        error=error,
        origin=f"tool:{call.name}",  # a worker's answer may carry tool output: untrusted
    )
    await ctx.record_many(
        [
            (ctx.key(step, "tool_call_started", index), started),
            (ctx.key(step, "tool_call_finished", index), finished),
        ]
    )
