"""The Runtime: resolves an agent, its model and tools, opens the store and runs the loop.

Everything configuration-shaped is checked before a run is created, so a bad agent file or
model id fails with a ``ConfigError`` and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tether.agent.context import RunContext
from tether.agent.loop import Finish, drive
from tether.agent.spec import Agent, load_agent
from tether.agent.state import RunState
from tether.clock import Clock, SystemClock
from tether.events import RunStarted
from tether.models.base import Model
from tether.models.registry import resolve_model
from tether.redact import Redactor
from tether.settings import Settings, load_settings
from tether.store import RunRecord, Store
from tether.tools import ToolExecutor, ToolRegistry
from tether.types import RunStatus, Usage

log = logging.getLogger("tether.runtime")


def tether_version() -> str:
    try:
        return version("tether")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def new_run_id(clock: Clock) -> str:
    """Time-ordered, unique: ``run_`` + 11 hex digits of milliseconds + 8 random hex digits."""
    ms = int(clock.now().timestamp() * 1000)
    return f"run_{ms:011x}{secrets.token_hex(4)}"


@dataclass(frozen=True, kw_only=True)
class RunResult:
    run_id: str
    status: RunStatus
    output: str | None
    reason: str | None
    usage: Usage
    cost: Decimal
    steps: int
    tool_calls: int
    wall_s: float = 0.0
    agent: str = ""
    model: str = ""

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "output": self.output,
            "reason": self.reason,
            "usage": {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
            },
            "cost": str(self.cost),
            "steps": self.steps,
            "tool_calls": self.tool_calls,
        }


@dataclass(kw_only=True)
class Runtime:
    """Runs agents. ``models`` pre-registers model objects by id (tests, custom providers)."""

    settings: Settings = field(default_factory=load_settings)
    models: Mapping[str, Model] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    executor: ToolExecutor = field(default_factory=ToolExecutor)
    _store: Store | None = None

    @property
    def redactor(self) -> Redactor:
        values = [s.get_secret_value() for s in self.settings.secrets.values()]
        return Redactor(values, enabled=self.settings.redact)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.settings.db_url, self.redactor)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def resolve_agent(self, agent: Agent | str | Path) -> Agent:
        return agent if isinstance(agent, Agent) else load_agent(agent)

    def resolve_model(self, agent: Agent, model: str | None) -> Model:
        model_id = model or agent.model or self.settings.model
        return resolve_model(model_id, self.settings, extra=self.models)

    async def run(
        self, agent: Agent | str | Path, goal: str, *, model: str | None = None
    ) -> RunResult:
        """Run ``agent`` on ``goal`` to completion (or a pause) and return the result."""
        spec_agent = self.resolve_agent(agent)
        resolved_model = self.resolve_model(spec_agent, model)
        registry = ToolRegistry(spec_agent.resolved_tools())
        store = self.store
        started = time.perf_counter()
        run_id = new_run_id(self.clock)
        now = self.clock.now()
        await asyncio.to_thread(
            store.runs.create,
            RunRecord(
                id=run_id,
                agent=spec_agent.name,
                agent_version=spec_agent.version,
                goal=goal,
                model=resolved_model.id,
                status=RunStatus.RUNNING,
                created_at=now,
                updated_at=now,
            ),
        )
        ctx = RunContext(
            run_id=run_id,
            segment=0,
            agent=spec_agent,
            model=resolved_model,
            registry=registry,
            executor=self.executor,
            store=store,
            redactor=self.redactor,
            settings=self.settings,
            clock=self.clock,
            state=RunState(run_id=run_id),
        )
        await ctx.record(
            ctx.key(0, "run_started"),
            RunStarted(
                goal=goal,
                agent=spec_agent.name,
                agent_version=spec_agent.version,
                model=resolved_model.id,
                tools=list(registry.names()),
                limits=spec_agent.limits.model_dump(),
                tether_version=tether_version(),
            ),
        )
        await self._drive(ctx)
        return await self._conclude(ctx, time.perf_counter() - started)

    async def _drive(self, ctx: RunContext) -> None:
        try:
            await drive(ctx)
        except Exception as exc:  # a crash must still leave a displayable, final run
            log.exception("run %s crashed", ctx.run_id)
            await Finish(
                status=RunStatus.FAILED, reason=f"internal error: {type(exc).__name__}: {exc}"
            ).run(ctx)

    async def _conclude(self, ctx: RunContext, wall_s: float) -> RunResult:
        s = ctx.state
        await asyncio.to_thread(
            ctx.store.runs.update,
            ctx.run_id,
            status=s.status,
            output=s.output,
            reason=s.reason,
            input_tokens=s.usage.input_tokens,
            output_tokens=s.usage.output_tokens,
            cost_micros=int(s.cost * 1_000_000),
            steps=s.steps,
            tool_calls=s.tool_calls,
            finished_at=self.clock.now(),
        )
        return RunResult(
            run_id=ctx.run_id,
            status=s.status,
            output=s.output,
            reason=s.reason,
            usage=s.usage,
            cost=s.cost,
            steps=s.steps,
            tool_calls=s.tool_calls,
            wall_s=wall_s,
            agent=ctx.agent.name,
            model=ctx.model.id,
        )

    def run_sync(
        self, agent: Agent | str | Path, goal: str, *, model: str | None = None
    ) -> RunResult:
        """Blocking wrapper around ``run`` for scripts and the CLI."""
        return asyncio.run(self.run(agent, goal, model=model))
