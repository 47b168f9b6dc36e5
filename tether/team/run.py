"""A team run: one run, many roles, each role's turn a bounded agent loop inside it.

Every turn gets its own range of step positions (``step_base`` up to ``step_base +
step_cap``), so the role's model, policy, tool and budget events are the ordinary ones, keyed
by their position and therefore attributable to the role (``tether.team.costs``). A turn runs
the agent loop (``tether.agent.loop``) with a fresh conversation for the role and a step runner
that, instead of finishing the run, journals ``team_turn_finished``. Team-level events
(``team_turn``, ``handoff``, ``arbiter_decision``, ``run_finished``) are keyed
deterministically too, so a replayed segment writes nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from tether.agent.context import RunContext
from tether.agent.loop import Think
from tether.agent.loop import drive as drive_loop
from tether.agent.runner import DirectRunner, StepRunner
from tether.agent.spec import Agent
from tether.agent.state import RunState
from tether.agent.stops import StepRefs
from tether.events import (
    ArbiterDecision,
    EventKey,
    Handoff,
    Payload,
    RunFinished,
    TeamTurn,
    TeamTurnFinished,
)
from tether.governance.budget import Budget, RunBudgets, Spend, to_micros
from tether.models.base import Model
from tether.team import arbiter
from tether.team.spec import Team
from tether.tools import Tool, ToolRegistry
from tether.types import RunStatus, Usage, UserMessage

RunnerFor = Callable[[int], StepRunner]  # a turn's step runner (direct or durable)


@dataclass(frozen=True, kw_only=True)
class TurnResult:
    role: str
    turn: int
    status: RunStatus
    output: str | None
    reason: str | None
    success: bool | None
    spend: Spend
    usage: Usage
    cost: Decimal
    steps: int


@dataclass(kw_only=True)
class TeamRun:
    """The state of one team run in this process. ``top`` is the run's own context (its
    ``run_started``, the team's events and ``run_finished``)."""

    team: Team
    top: RunContext
    make_context: Callable[[Agent, Model, ToolRegistry, RunState], RunContext]
    resolve_model: Callable[[Agent], Model]
    runner_for: RunnerFor = field(default=lambda turn: DirectRunner())
    parallel: bool = True  # supervisor delegates at once (durable segments run them in order)
    on_context: Callable[[int, RunContext], None] | None = None  # durable steps find it there
    # a turn's context before its loop runs: feature flags applied and journaled (launch.py)
    prepare: Callable[[RunContext], Awaitable[None]] | None = None
    turns: list[TurnResult] = field(default_factory=list)
    contexts: dict[int, RunContext] = field(default_factory=dict)
    next_base: int = 0
    decisions: int = 0
    handoffs: list[Handoff] = field(default_factory=list)
    allocated: int = 0  # turns handed out so far
    _models: dict[str, Model] = field(default_factory=dict)

    def spent(self, role: str | None = None, *, besides: int | None = None) -> Spend:
        """What the team (or ``role``) spent: finished turns and turns in progress (a
        manager waiting for its workers), except the turn ``besides``."""
        done = {t.turn for t in self.turns}
        finished = [t.spend for t in self.turns if role is None or t.role == role]
        running = [
            c.state.spend
            for turn, c in self.contexts.items()
            if turn not in done and turn != besides and (role is None or c.agent.name == role)
        ]
        return sum((*finished, *running), Spend())

    def turn_of(self, ctx: RunContext) -> int:
        return next(t for t, c in self.contexts.items() if c is ctx)

    async def record(self, key: EventKey, payload: Payload) -> None:
        await self.top.record(key, payload)

    async def decide(self, d: arbiter.Decision) -> None:
        """Journal an arbiter decision (keyed by its order in the run)."""
        key = self.top.key(self.next_base, "arbiter_decision", self.decisions)
        self.decisions += 1
        await self.record(
            key,
            ArbiterDecision(
                decision=d.decision,
                rule=d.rule,
                reason=d.reason,
                role=d.role,
                status=None if d.status is None else d.status.value,
            ),
        )

    def allocate(self, role: str) -> tuple[int, int, int]:
        """The next turn's number and step range; deterministic in the order of turns."""
        cap = self.team.role(role).agent.limits.max_steps + 1
        turn, base = self.allocated, self.next_base
        self.allocated += 1
        self.next_base += cap
        return turn, base, cap

    def allowance(self, role: str, *, besides: int | None = None) -> Budget | arbiter.Decision:
        """What ``role``'s turn may spend (``besides``: that turn's own spend not counted)."""
        charter = self.team.role(role).charter_agent()
        return arbiter.allowance(
            self.team.budget,
            charter.budget,
            self.spent(besides=besides),
            self.spent(role, besides=besides),
            role,
        )

    async def turn(
        self,
        role: str,
        text: str,
        *,
        delegated_by: str | None = None,
        extra_tools: Sequence[Tool] = (),
        drive: Callable[[RunContext, StepRunner], Awaitable[None]] | None = None,
        slot: tuple[int, int, int] | None = None,
        parallel: int = 1,
        allowed: Budget | arbiter.Decision | None = None,
    ) -> TurnResult | arbiter.Decision:
        """Run one turn of ``role`` on ``text`` (in ``slot``, from :meth:`allocate`, or the
        next one); an arbiter ``stop`` when its budget is gone. ``parallel`` turns that run at
        once share what is left."""
        turn, base, cap = slot or self.allocate(role)
        if allowed is None:  # parallel handoffs pass theirs, fixed before any of them runs
            allowed = self.allowance(role)
        if isinstance(allowed, arbiter.Decision):
            await self.decide(allowed)
            return allowed
        allowed = arbiter.share(allowed, parallel)
        ctx = self._role_context(role, text, base, cap, allowed, extra_tools)
        self.contexts[turn] = ctx
        if self.on_context is not None:
            self.on_context(turn, ctx)
        await self.record(
            self.top.key(base, "team_turn"),
            TeamTurn(
                role=role,
                turn=turn,
                step_base=base,
                step_cap=cap,
                input=text,
                delegated_by=delegated_by,
            ),
        )
        if self.prepare is not None:
            await self.prepare(ctx)
        runner = _TurnRunner(
            inner=self.runner_for(turn), team=self, role=role, turn=turn, base=base
        )
        if drive is None:
            await drive_loop(ctx, runner, Think())
        else:
            await drive(ctx, runner)
        result = runner.result
        assert result is not None, "a turn ended without finishing"
        self.turns.append(result)
        return result

    def _role_context(
        self,
        role: str,
        text: str,
        base: int,
        cap: int,
        allowed: Budget,
        extra_tools: Sequence[Tool],
    ) -> RunContext:
        charter = self.team.role(role).charter_agent()
        limits = charter.limits.model_copy(update={"max_steps": base + charter.limits.max_steps})
        tools = [*charter.resolved_tools(http_allow=self.top.settings.http_allow), *extra_tools]
        agent = replace(
            charter,
            limits=limits,
            preselect_k=max(charter.preselect_k, len(tools))
            if extra_tools
            else charter.preselect_k,
        )
        state = RunState(
            run_id=self.top.run_id,
            goal=text,
            messages=[UserMessage(content=text)],
            steps=base,
            started_at=self.top.state.started_at,
            operator_seen=max([self.top.state.operator_seen, *self._seen()]),
        )
        model = self._models.get(role)
        if model is None:
            model = self._models[role] = self.resolve_model(charter)
        ctx = self.make_context(agent, model, ToolRegistry(tools), state)
        ctx.budgets = RunBudgets(
            run=allowed,
            role_name=role,
            tenant=self.top.budgets.tenant,
            tenant_name=self.top.budgets.tenant_name,
            tools=dict(charter.tools_budget),
        )
        return ctx

    def _seen(self) -> list[int]:
        return [c.state.operator_seen for c in self.contexts.values()]

    async def finish(self, status: RunStatus, output: str | None, reason: str | None) -> None:
        """Journal ``run_finished`` with the team's totals and close the run record."""
        usage = sum((t.usage for t in self.turns), Usage())
        cost = sum((t.cost for t in self.turns), Decimal(0))
        steps = sum(t.steps for t in self.turns)
        calls = self.spent().tool_calls
        top = self.top
        top.state.usage, top.state.cost, top.state.steps = usage, cost, steps
        top.state.tool_calls = calls
        await top.record(
            top.key(self.next_base, "run_finished"),
            RunFinished(
                status=status.value,
                output=output,
                reason=reason,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost=str(cost),
                steps=steps,
                tool_calls=calls,
            ),
        )
        await asyncio.to_thread(
            top.store.runs.update,
            top.run_id,
            status=status,
            output=output,
            reason=reason,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_micros=to_micros(cost),
            steps=steps,
            tool_calls=calls,
            finished_at=top.clock.now(),
        )


@dataclass(kw_only=True)
class _TurnRunner:
    """The loop's step runner for one turn: model and tool steps as usual; the finish ends
    the turn (``team_turn_finished``), not the run."""

    inner: StepRunner
    team: TeamRun
    role: str
    turn: int
    base: int
    result: TurnResult | None = None

    async def model(self, ctx: RunContext, step: int) -> StepRefs:
        return await self.inner.model(ctx, step)

    async def tool(self, ctx: RunContext, step: int, index: int) -> StepRefs:
        return await self.inner.tool(ctx, step, index)

    async def batch(self, ctx: RunContext, step: int, indices: Sequence[int]) -> StepRefs:
        return await self.inner.batch(ctx, step, indices)

    async def finish(
        self, ctx: RunContext, status: RunStatus, output: str | None, reason: str | None
    ) -> StepRefs:
        s = ctx.state
        base = self.base
        if status is RunStatus.PAUSED:  # an approval or an operator's pause inside a turn
            status, reason = (
                RunStatus.NEEDS_REVIEW,
                (
                    f"role {self.role!r} had to pause ({reason}); a team run cannot pause and "
                    "go on later yet: settle it by hand, then run the team again"
                ),
            )
        metric = self.team.team.role(self.role).success
        success = None if metric is None else metric.check(output)
        spend = s.spend
        key = ctx.key(base, "team_turn_finished")
        await ctx.record(
            key,
            TeamTurnFinished(
                role=self.role,
                turn=self.turn,
                status=status.value,
                output=output,
                reason=reason,
                success=success,
                tokens=spend.tokens,
                money_micros=spend.money_micros,
                tool_calls=spend.tool_calls,
                steps=s.steps - base,
            ),
        )
        self.result = TurnResult(
            role=self.role,
            turn=self.turn,
            status=status,
            output=output,
            reason=reason,
            success=success,
            spend=spend,
            usage=s.usage,
            cost=s.cost,
            steps=s.steps - base,
        )
        return (key.id,)


__all__ = ["RunnerFor", "TeamRun", "TurnResult"]
