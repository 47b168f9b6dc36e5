"""Shadow runs: a candidate agent on the same inputs as recorded production runs, with its
writes recorded instead of executed (DESIGN §2.11; ``tether runs shadow``).

For each production run, the candidate runs on the run's goal, tenant, user and group with
its own model; its tools answer through ``ShadowTools`` (writes never execute; reads come from
the production run's recorded results where the call matches). The shadow run is a run in the
journal like any other, marked ``shadow_of`` (in ``tether_runs`` and ``run_started``), so KPI
and cost roll-ups leave it out; it records no memory episode and asks no person (a call
policy would send for approval goes on, recorded, with the reason ``tether.shadow.would_ask``
on its decision). ``ShadowReport`` says what the candidate did differently: tool calls (name,
arguments, order), answer and status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tether.agent.spec import Agent
from tether.evals.observe import Observation, observe
from tether.evals.replay import recorded_agent
from tether.events import ToolCallShadowed
from tether.governance.verdicts import VerdictGate
from tether.release.shadow_diff import Difference, differences
from tether.release.shadow_tools import ShadowRunner, ShadowTools, never_ask
from tether.runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class ShadowReport:
    run_id: str
    shadow_id: str
    candidate: str
    candidate_version: str
    production_version: str
    differences: tuple[Difference, ...]
    production: Observation
    shadow: Observation
    shadowed: tuple[ToolCallShadowed, ...]

    @property
    def same(self) -> bool:
        return not self.differences

    @property
    def writes_recorded(self) -> int:
        return sum(1 for s in self.shadowed if s.side_effect != "read")

    def to_json(self) -> dict[str, Any]:
        def calls(o: Observation) -> list[dict[str, Any]]:
            return [
                {"tool": c.tool, "arguments": c.arguments, "side_effect": c.side_effect, "ok": c.ok}
                for c in o.calls
                if c.validated
            ]

        return {
            "run_id": self.run_id,
            "shadow_id": self.shadow_id,
            "candidate": self.candidate,
            "candidate_version": self.candidate_version,
            "production_version": self.production_version,
            "same": self.same,
            "differences": [d.to_json() for d in self.differences],
            "production": {
                "status": self.production.status,
                "output": self.production.output,
                "calls": calls(self.production),
            },
            "shadow": {
                "status": self.shadow.status,
                "output": self.shadow.output,
                "calls": calls(self.shadow),
                "answered": [
                    {"tool": s.tool, "side_effect": s.side_effect, "answer": s.answer}
                    for s in self.shadowed
                ],
            },
            "writes_recorded": self.writes_recorded,
        }


async def shadow_run(
    rt: Runtime, run_id: str, candidate: Agent, *, model: str | None = None
) -> ShadowReport:
    """Shadow stored run ``run_id`` (id or prefix) with ``candidate``; see the module doc."""
    record = await asyncio.to_thread(rt.store.runs.find, run_id)
    events = await asyncio.to_thread(rt.store.journal.read, record.id)
    started, _ = recorded_agent(record.id, events)
    production = observe(events)
    tools = ShadowTools(production_run=record.id, recorded=production.calls, inner=rt.executor)
    shadow = Runtime(
        settings=rt.settings,
        models=rt.models,
        clock=rt.clock,
        executor=tools,
        embedder=rt.embedder,
    )
    try:
        async with shadow.mcp_tools(candidate) as mcp:
            ctx = await shadow.start(
                candidate,
                started.goal,
                model=model,
                tenant=started.tenant,
                user=started.user,
                user_group=started.user_group,
                extra_tools=mcp,
                shadow_of=record.id,
            )
            ctx.memory = None  # a shadow run records no episode
            if ctx.gate is not None:  # nor waits for a person
                ctx.gate = VerdictGate.over(ctx.gate, never_ask)
            ctx.mcp_connected = True
            await shadow.drive(ctx, ShadowRunner(tools=tools))
        replayed = await asyncio.to_thread(shadow.store.journal.read, ctx.run_id)
    finally:
        shadow.close()
    seen = observe(replayed)
    return ShadowReport(
        run_id=record.id,
        shadow_id=ctx.run_id,
        candidate=candidate.name,
        candidate_version=candidate.version,
        production_version=started.agent_version,
        differences=tuple(
            differences(
                production.calls,
                seen.calls,
                (production.output, seen.output),
                (production.status, seen.status),
            )
        ),
        production=production,
        shadow=seen,
        shadowed=tuple(e.payload for e in replayed if isinstance(e.payload, ToolCallShadowed)),
    )


async def shadow_runs(
    rt: Runtime, run_ids: Sequence[str], candidate: Agent, *, model: str | None = None
) -> list[ShadowReport]:
    """Shadow each run in turn (one shadow run at a time: they share the candidate's model)."""
    return [await shadow_run(rt, r, candidate, model=model) for r in run_ids]
