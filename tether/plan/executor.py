"""Plan mode: plan → run the ready steps in parallel → check each → re-plan on a failure.

Each turn is decided from the run's state (``RunState.plan``, a fold over the journal), so a
resumed segment or a durable replay goes on where the run was:

- no accepted plan, or the current one failed: ask for a plan (with the failure), validate it
  (schema whose ``tool`` is an enum of the agent's tools, ids, dependencies, cycles, length)
  and journal it (``plan_created`` / ``plan_revised``, accepted or rejected with the reason);
- a wave in flight: finish its calls, then judge them;
- otherwise: resolve the ready steps' ``$refs`` (a missing field is a ``plan_step_failed``),
  run them as one wave (``plan_wave``; reads in parallel), and journal a ``critic_verdict`` per
  step; once every step passed, the ``success_check`` decides the run (``critic_verdict`` on
  ``goal``).

Bounded: ``plan.max_revisions`` re-plans, ``plan.max_plan_steps`` per plan, the agent's
``max_steps`` (model calls and waves) and ``max_tool_calls``; a revised plan identical to one
that already failed stops the run in ``no_progress``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from tether.agent.context import RunContext
from tether.agent.loop import Finish
from tether.agent.runner import StepRunner
from tether.events import CriticVerdict, PlanCreated, PlanRevised, PlanStepFailed
from tether.plan.config import load_function
from tether.plan.critic import Verdict, check_step, judge_request, read_judgement
from tether.plan.graph import Plan, PlanError, answer_text, parse_plan
from tether.plan.prompts import plan_config, planner_request
from tether.plan.refs import RefError, resolve
from tether.plan.sampling import pick_by_agreement
from tether.plan.turns import Answer, ask, resume_wave, run_wave
from tether.types import RunStatus


async def drive_plan(ctx: RunContext, runner: StepRunner) -> Finish:
    """Turns until the run finishes; returns the ``Finish`` node (not yet run)."""
    while True:
        done = await _turn(ctx, runner)
        if done is not None:
            return done


async def _turn(ctx: RunContext, runner: StepRunner) -> Finish | None:
    s, ledger = ctx.state, ctx.state.plan
    if s.status.is_final:
        return Finish(status=s.status, output=s.output, reason=s.reason)
    wave = ledger.in_flight()
    if wave is not None:
        stop = await resume_wave(ctx, runner, wave.position)
        if stop is None:
            await _judge_wave(ctx, wave.position, wave.step_ids)
        return stop
    if ledger.current is None or ledger.failure is not None:
        return await _new_plan(ctx, runner)
    plan = ledger.current
    ready = plan.ready(ledger.results, ledger.started)
    if not ready:
        if any(step.id not in ledger.results for step in plan.steps):
            return Finish(status=RunStatus.FAILED, reason="plan steps are neither ready nor done")
        return await _goal_check(ctx, runner, plan)
    items = []
    for step in ready:
        try:
            items.append((step.id, step.tool, resolve(step.args, ledger.results)))
        except RefError as exc:
            await ctx.record(
                ctx.key(s.steps, "plan_step_failed", len(items)),
                PlanStepFailed(version=ledger.version, step_id=step.id, error=str(exc)),
            )
            return None
    position = s.steps
    stop = await run_wave(ctx, runner, ledger.version, items)
    if stop is None:
        await _judge_wave(ctx, position, [i[0] for i in items])
    return stop


async def _judge_wave(ctx: RunContext, position: int, step_ids: Sequence[str]) -> None:
    ledger = ctx.state.plan
    plan = ledger.current
    assert plan is not None  # a wave belongs to the current plan
    verdicts = []
    for n, sid in enumerate(step_ids):
        outcome = ledger.outcomes.get(sid)
        if outcome is None or sid in ledger.judged:
            continue
        v = await asyncio.to_thread(check_step, plan.step(sid).tool, outcome, ctx.agent.critic)
        verdicts.append((ctx.key(position, "critic_verdict", n), _verdict(ledger.version, sid, v)))
    await ctx.record_many(verdicts)


def _verdict(version: int, target: str, v: Verdict, judge: str | None = None) -> CriticVerdict:
    return CriticVerdict(
        version=version,
        target=target,
        verdict="pass" if v.passed else "fail",
        explain=v.explain,
        checks=v.checks,
        confidence=v.confidence,
        judge=judge,
    )


async def _new_plan(ctx: RunContext, runner: StepRunner) -> Finish | None:
    cfg, ledger = plan_config(ctx), ctx.state.plan
    if ledger.attempts > cfg.max_revisions:
        return Finish(
            status=RunStatus.MAX_STEPS,
            reason=f"reached plan.max_revisions={cfg.max_revisions} after {ledger.attempts} "
            f"plans; last failure: {ledger.failure}",
        )
    model_id = ctx.agent.planner_model
    first = await ask(ctx, runner, planner_request, model_id)
    if isinstance(first, Finish):
        return first
    tools = list(ctx.registry.names())
    try:
        plans = [parse_plan(first.text, tools, cfg.max_plan_steps)]
    except PlanError as exc:
        await _journal_plan(ctx, first, None, error=str(exc))
        return None
    if cfg.samples > 1 and plans[0].confidence < cfg.sample_below:
        for n in range(1, cfg.samples):
            more = await ask(ctx, runner, _sample_request(n), model_id)
            if isinstance(more, Finish):
                return more
            try:
                plans.append(parse_plan(more.text, tools, cfg.max_plan_steps))
            except PlanError:
                continue  # a variant that does not validate gets no vote
    choice = pick_by_agreement(plans)
    if choice.plan.signature() in ledger.failed_signatures:
        why = f"the revised plan repeats one that failed ({ledger.failure})"
        await _journal_plan(ctx, first, None, error="the same plan already failed")
        return Finish(status=RunStatus.NO_PROGRESS, reason=why)
    await _journal_plan(ctx, first, choice.plan, samples=choice.samples, agreement=choice.agreement)
    return None


def _sample_request(n: int) -> Any:
    return lambda c: planner_request(c, temperature=0.7, seed=n)


async def _journal_plan(
    ctx: RunContext,
    answer: Answer,
    plan: Plan | None,
    *,
    error: str | None = None,
    samples: int = 1,
    agreement: int = 1,
) -> None:
    ledger = ctx.state.plan
    version = ledger.attempts + 1
    fields: dict[str, Any] = {
        "version": version,
        "accepted": plan is not None,
        "plan": plan.to_json() if plan is not None else None,
        "error": error,
        "samples": samples,
        "agreement": agreement,
    }
    if version == 1:
        await ctx.record(ctx.key(answer.step, "plan_created"), PlanCreated(**fields))
    else:
        payload = PlanRevised(**fields, reason=ledger.failure)
        await ctx.record(ctx.key(answer.step, "plan_revised"), payload)


async def _goal_check(ctx: RunContext, runner: StepRunner, plan: Plan) -> Finish | None:
    """Every step passed: the success check decides; a pass finishes the run."""
    ledger, cfg = ctx.state.plan, plan_config(ctx)
    output = answer_text(plan, ledger.results)
    verdict, judge_id = await _success(ctx, runner, cfg.success_check, output)
    if isinstance(verdict, Finish):
        return verdict
    key = ctx.key(ctx.state.steps, "critic_verdict", 1_000)  # the goal's: after the steps'
    await ctx.record(key, _verdict(ledger.version, "goal", verdict, judge_id))
    judge = ctx.agent.critic.judge if ctx.agent.critic else None
    if (
        verdict.confidence is not None
        and judge is not None
        and verdict.confidence < judge.review_below
    ):
        return Finish(
            status=RunStatus.NEEDS_REVIEW,
            output=output,
            reason=f"the judge's confidence {verdict.confidence:.2f} is under "
            f"review_below={judge.review_below}: a person should check the answer",
        )
    if verdict.passed:
        return Finish(status=RunStatus.SUCCEEDED, output=output)
    return None  # the ledger now holds the failure: re-plan


async def _success(
    ctx: RunContext, runner: StepRunner, check: str | None, output: str
) -> tuple[Verdict | Finish, str | None]:
    results = dict(ctx.state.plan.results)
    if check is not None:
        ok = bool(await asyncio.to_thread(load_function(check), ctx.state.goal, results))
        checks = [{"check": "success_check", "fn": check, "pass": ok}]
        why = (
            ""
            if ok
            else f"{check} returned false for the results {json.dumps(results, default=str)[:200]}"
        )
        return Verdict(verdict="pass" if ok else "fail", explain=why, checks=checks), None
    judge = ctx.agent.critic.judge if ctx.agent.critic else None
    if judge is None:
        return Verdict(verdict="pass", checks=[{"check": "all_steps_passed", "pass": True}]), None
    limit = ctx.agent.limits.max_output_tokens
    goal = ctx.state.goal
    asked = await ask(ctx, runner, lambda c: judge_request(judge, goal, output, limit), judge.model)
    if isinstance(asked, Finish):
        return asked, None
    return read_judgement(judge, asked.text), judge.model or ctx.model.id
