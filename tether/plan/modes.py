"""Which loop drives a run: the agent's ``mode`` (``auto``: the router's journaled choice)."""

from __future__ import annotations

from tether.agent.context import RunContext
from tether.agent.loop import drive as drive_react
from tether.agent.loop import next_node
from tether.agent.runner import StepRunner
from tether.events import RouteChosen
from tether.plan.executor import drive_plan
from tether.plan.reflect import drive_reflect
from tether.plan.route import classify


async def drive_agent(ctx: RunContext, runner: StepRunner) -> None:
    """Drive ``ctx``'s run to its end with the loop its mode names."""
    mode: str = ctx.agent.mode
    if mode == "auto":
        mode = await _route(ctx)
        fast = ctx.agent.fast_model
        if mode == "react" and fast is not None and ctx.models is not None:
            ctx.model = ctx.models(fast)  # simple goal: the cheaper model runs it
    if mode == "react":
        await drive_react(ctx, runner, next_node(ctx.state))
        return
    drive = drive_plan if mode == "plan" else drive_reflect
    finish = await drive(ctx, runner)
    await finish.run(ctx, runner)


async def _route(ctx: RunContext) -> str:
    chosen = ctx.state.plan.route
    if chosen is None:
        route = classify(ctx.state.goal, ctx.registry.contracts(), ctx.agent.route)
        model = ctx.agent.fast_model if route.mode == "react" else ctx.agent.planner_model
        chosen = RouteChosen(
            mode="plan" if route.mode == "plan" else "react", model=model, reason=route.reason
        )
        await ctx.record(ctx.key(0, "route_chosen"), chosen)
    return chosen.mode
