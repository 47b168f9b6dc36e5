"""The Runtime: resolves an agent, its model and tools, opens the store and runs the loop.

Everything configuration-shaped is checked before a run is created, so a bad agent file or
model id fails with a ``ConfigError`` and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tether.agent.context import RunContext
from tether.agent.loop import Finish
from tether.agent.memory.config import WorkingMemory
from tether.agent.memory.session import carry_over, check_session_id
from tether.agent.memory.step import MemoryRuntime
from tether.agent.memory.summarize import ExtractiveSummarizer, ModelSummarizer, Summarizer
from tether.agent.memory.tokens import counter_for
from tether.agent.runner import DirectRunner, StepRunner
from tether.agent.spec import Agent, AgentSpec, agent_from_spec, load_agent
from tether.agent.state import RunState
from tether.clock import Clock, SystemClock
from tether.errors import ModelUnavailable, StoreError, UsageError
from tether.events import RunStarted, SessionContext
from tether.flags.apply import (
    enforce_flags,
    enforce_flags_sync,
    load_flags,
    load_flags_async,
    refuse_trigger,
)
from tether.governance import PolicySource, Principal
from tether.governance.budget import Budget, RunBudgets
from tether.governance.gate import PolicyGate
from tether.memory.services import MemoryServices, embedder_from_settings
from tether.models.base import Model
from tether.models.factory import ModelFactory
from tether.observability.logs import current_run
from tether.plan.modes import drive_agent
from tether.privacy.keys import Keyring, load_master_key
from tether.privacy.runs import RunSealer, open_events
from tether.privacy.seal import Sealer
from tether.redact import Redactor
from tether.secrets import SecretSource
from tether.settings import Settings, load_settings
from tether.store import RunRecord, SessionTurn, Store
from tether.tools import Tool, ToolExecutor, ToolRegistry
from tether.tools.resilience import ResilientToolExecutor, ToolRunner
from tether.tools.validation import SharedValidators
from tether.types import ModelRequest, ModelResponse, RunStatus, Usage

if TYPE_CHECKING:
    from tether.memory.embed import Embedder  # numpy: imported when memory is used
    from tether.team import Team

log = logging.getLogger("tether.runtime")
T = TypeVar("T")


@functools.cache
def tether_version() -> str:
    """The installed tether's version (read once: a metadata lookup costs milliseconds)."""
    try:
        return version("tether")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def new_run_id(clock: Clock) -> str:
    """Time-ordered, unique: ``run_`` + 11 hex digits of milliseconds + 8 random hex digits."""
    ms = int(clock.now().timestamp() * 1000)
    return f"run_{ms:011x}{secrets.token_hex(4)}"


def version_drift(
    run_id: str, started: RunStarted, agent_version: str, current_tether: str
) -> str | None:
    """What differs between the versions a run started on and those resuming it, or None.

    A resumed run always uses the agent spec journaled when it started; only the code behind
    its tools (their contract versions) and tether itself can have changed.
    """
    changes = []
    if started.agent_version and started.agent_version != agent_version:
        changes.append(f"agent version {started.agent_version} -> {agent_version}")
    if started.tether_version and started.tether_version != current_tether:
        changes.append(f"tether {started.tether_version} -> {current_tether}")
    if not changes:
        return None
    return (
        f"run {run_id!r} resumes on a different version ({'; '.join(changes)}): it keeps the "
        "agent spec it started with, but tools run the code installed here; finish in-flight "
        "runs on the old version first, or see docs/deploy.md (upgrades with runs in flight)"
    )


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
    # tool calls: timeouts and retries, then per-tool rate limits, breakers, bulkheads and the
    # read cache; the breakers and cache span the runtime's runs
    executor: ToolRunner = field(default_factory=lambda: ResilientToolExecutor(ToolExecutor()))
    durable: bool = False  # run segments as durable workflows (DBOS); ``tether run`` does
    tracer_provider: Any = None  # an OpenTelemetry TracerProvider; spans go there per run
    embedder: Embedder | None = None  # memory tiers' embedder; default TETHER_EMBED_MODEL's
    # runs of an agent with a registered current version execute that version (or a canary's
    # candidate) instead of the given one: `tether run --agent NAME`, workers, the service
    route_versions: bool = False
    _store: Store | None = None
    _memory: MemoryServices | None = None

    _redactor: Redactor | None = None
    _sealer: Sealer | None = None
    _secrets: SecretSource | None = None
    _factory: ModelFactory | None = None
    _policies: PolicySource | None = None
    # made once, on first use, and closed by ``close`` (the DBOS client that enqueues runs)
    _resources: dict[str, Any] = field(default_factory=dict, repr=False)
    _resources_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def validators(self) -> SharedValidators:
        """Tool schemas' compiled validators, shared by this runtime's runs."""
        return self.resource("validators", SharedValidators)

    def resource(self, name: str, make: Callable[[], T]) -> T:
        """The runtime's ``name`` resource, made by ``make`` on first use (any thread);
        ``close`` destroys it."""
        with self._resources_lock:
            if name not in self._resources:
                self._resources[name] = make()
            value: T = self._resources[name]
            return value

    @property
    def policies(self) -> PolicySource:
        """The project's policies (``TETHER_POLICIES``) and the packs, reloaded on change."""
        if self._policies is None:
            s = self.settings
            self._policies = PolicySource(
                folder=s.policies,
                clock=self.clock,
                packs=[p for p in s.policy_packs if s.injection_defense or p != "injection"],
                reload_ms=s.policy_reload_ms,
            )
        return self._policies

    def gate(
        self, agent: Agent, tenant: str, user: str | None, *, sealed: bool = False
    ) -> PolicyGate:
        """The policy gate of one run: its principal and the settings' model facts.

        ``sealed``: the run is about a subject, so its state holds PII in the clear (sealed in
        the journal instead of redacted) and the gate must scan for it."""
        s = self.settings
        principal = Principal(
            agent=agent.name,
            agent_version=agent.version,
            tenant=tenant,
            user=user,
            scopes=None if agent.scopes is None else tuple(agent.scopes),
        )
        # finds data in the clear; with redaction on the state holds markers instead
        detector = Redactor(s.secret_source().known_values())  # env, file and settings
        return PolicyGate(
            source=self.policies,
            principal=principal,
            regions=s.model_regions,
            approved=s.approved_labels,
            detector=detector,
            state_redacted=s.redact and not sealed,
        )

    @property
    def redactor(self) -> Redactor:
        """One redactor per runtime: every secret value known at start (settings, environment,
        secrets file) plus the built-in patterns; values read later are added as tools read
        them (``secrets``)."""
        if self._redactor is None:
            values = self.settings.secret_source().known_values()
            self._redactor = Redactor(values, enabled=self.settings.redact)
        return self._redactor

    @property
    def secrets(self) -> SecretSource:
        """Tools' scoped credentials; each value a tool reads is first given to the redactor."""
        if self._secrets is None:
            self._secrets = self.settings.secret_source(on_value=self.redactor.add_secret)
        return self._secrets

    @property
    def sealer(self) -> Sealer:
        """Seals subjects' PII (memory, journal) with their data keys; the master key is read
        (``TETHER_MASTER_KEY`` or the key file in ``TETHER_HOME``) on first need."""
        if self._sealer is None:
            s = self.settings
            secret = s.master_key.get_secret_value() if s.master_key else None
            master = partial(load_master_key, secret, s.home)
            self._sealer = Sealer(Keyring(self.store.engine, master))
        return self._sealer

    def run_sealer(self, tenant: str, subject_hash: str | None) -> RunSealer | None:
        """A run about a subject seals its PII in the journal; without one, it is redacted."""
        if subject_hash is None:
            return None
        return RunSealer(sealer=self.sealer, tenant=tenant, subject_hash=subject_hash)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(
                self.settings.db_url, self.redactor, pool_size=self.settings.db_pool_size
            )
        return self._store

    @property
    def memory(self) -> MemoryServices:
        """Episodic and profile memory over this runtime's store (agents with ``memory:``)."""
        if self._memory is None:
            given = self.embedder
            self._memory = MemoryServices(
                engine=self.store.engine,
                clock=self.clock,
                make_embedder=(lambda: given) if given is not None else self._default_embedder,
                make_sealer=lambda: self.sealer,
            )
        return self._memory

    def _default_embedder(self) -> Embedder:
        return embedder_from_settings(self.settings)

    def attach_memory(self, ctx: RunContext, user: str | None) -> None:
        """Give a run of an agent with ``memory:`` its memory and its memory tools (bound to
        the run's tenant, user and agent)."""
        config = ctx.agent.memory
        if config is None:
            return
        from tether.memory.tools import MemoryBinding, memory_tools

        ctx.memory = self.memory
        binding = MemoryBinding(
            tenant=ctx.tenant, agent=ctx.agent.name, subject=user, run_id=ctx.run_id
        )
        tools = memory_tools(
            config,
            binding,
            episodes=ctx.memory.episodes if config.recalls_episodes else None,
            profile=ctx.memory.profile,
        )
        ctx.registry = ToolRegistry([*ctx.registry, *tools])

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None
        with self._resources_lock:
            resources, self._resources = list(self._resources.values()), {}
        for r in resources:
            (getattr(r, "destroy", None) or r.close)()
        if self._store is not None:
            self._store.close()
            self._store = None

    def resolve_agent(self, agent: Agent | str | Path) -> Agent:
        return agent if isinstance(agent, Agent) else load_agent(agent)

    @property
    def model_factory(self) -> ModelFactory:
        if self._factory is None:
            self._factory = ModelFactory(settings=self.settings, extra=self.models)
        return self._factory

    def resolve_model(self, agent: Agent, model: str | None) -> Model:
        """The agent's model (or ``model``), then its fallbacks, with retries and breakers."""
        model_id = model or agent.model or self.settings.model
        return self.model_factory.build([model_id, *agent.fallback])

    async def run(
        self,
        agent: Agent | Team | str | Path,
        goal: str,
        *,
        model: str | None = None,
        on_delta: Callable[[str], None] | None = None,
        tenant: str | None = None,
        user: str | None = None,
        budget: Budget | None = None,
        subject: str | None = None,
        session: str | None = None,
        user_group: str | None = None,
    ) -> RunResult:
        """Run ``agent`` on ``goal`` to completion (or a pause) and return the result.

        ``on_delta`` receives the model's text as it streams (models that can stream).
        ``tenant`` and ``user`` (default: the settings') are who the run acts for; policy
        decides every tool and model call with them. ``budget`` limits this run on top of the
        agent's own budget and the tenant's. ``subject`` (default: the settings'): the person
        the run is about; PII in its journal is sealed with their key instead of redacted, so
        the run and its tools see the real values until ``tether memory forget SUBJECT``.
        agent's own budget and the tenant's. ``session``: the run is the next turn of that
        conversation (within the tenant) and sees the earlier turns through working memory.
        agent's own budget and the tenant's. ``agent`` may be a team (``tether.team``).
        """
        from tether.team import Team, as_team  # several roles in one run

        team = as_team(agent)
        if team is not None:
            from tether.team.launch import run_team

            return await run_team(
                self,
                team,
                goal,
                tenant=tenant,
                user=user,
                budget=budget,
                on_delta=on_delta,
                user_group=user_group,
            )
        started = time.perf_counter()
        assert not isinstance(agent, Team)  # as_team took it
        spec_agent = self.resolve_agent(agent)
        async with self.mcp_tools(spec_agent) as mcp:
            ctx = await self.start(
                spec_agent,
                goal,
                model=model,
                tenant=tenant,
                user=user,
                extra_tools=mcp,
                budget=budget,
                subject=subject,
                session=session,
                user_group=user_group,
            )
            ctx.on_delta = on_delta
            ctx.mcp_connected = True
            if self.durable:
                from tether.durable import run_segment  # DBOS lives only in tether.durable

                await run_segment(self, ctx)
            else:
                await self.drive(ctx)
        await asyncio.to_thread(self.export_trace, ctx.run_id)
        return self.result(ctx, time.perf_counter() - started)

    def mcp_tools(self, agent: Agent) -> AbstractAsyncContextManager[list[Tool]]:
        """The tools of the agent's MCP servers, connected while the block runs (header
        secrets from this runtime's secret sources)."""
        if not agent.mcp:
            return nullcontext([])
        from tether.tools.mcp_client import open_servers  # the MCP SDK only when used

        return open_servers(agent.mcp, secrets=self.secrets)

    @asynccontextmanager
    async def connect_mcp(self, ctx: RunContext) -> AsyncIterator[None]:
        """Connect a rebuilt run's MCP servers (a worker resuming it) for the block; a run
        that ``run`` started is connected already."""
        if ctx.mcp_connected or not ctx.agent.mcp:
            yield
            return
        async with self.mcp_tools(ctx.agent) as tools:
            ctx.registry = ToolRegistry([*ctx.registry, *tools])
            ctx.mcp_connected = True
            yield

    async def submit(
        self,
        agent: Agent | Team | str | Path,
        goal: str,
        *,
        model: str | None = None,
        tenant: str | None = None,
        budget: Budget | None = None,
        subject: str | None = None,
        session: str | None = None,
        origin: Mapping[str, Any] | None = None,
        user_group: str | None = None,
    ) -> str:
        """Create a run and put it on the workers' queue (``tether run --detach``); returns
        its id at once. Any ``tether worker`` on the same database executes it. ``origin``
        (journaled in ``run_started``) says what started it, e.g. a webhook trigger."""
        from tether.durable import enqueue_run  # DBOS lives only in tether.durable
        from tether.team import Team, as_team

        if as_team(agent) is not None:
            raise UsageError(
                "team runs cannot be queued for workers yet; run the team with `tether run` "
                "(without --detach) or Runtime.run"
            )
        assert not isinstance(agent, Team)
        ctx = await self.start(
            agent,
            goal,
            model=model,
            status=RunStatus.QUEUED,
            tenant=tenant,
            budget=budget,
            subject=subject,
            session=session,
            origin=origin,
            user_group=user_group,
        )
        await asyncio.to_thread(enqueue_run, self, ctx.run_id)
        return ctx.run_id

    def export_trace(self, run_id: str) -> None:
        """Send a run's spans (built from its journal) to ``tracer_provider`` or, when
        ``TETHER_OTLP_ENDPOINT`` is set, over OTLP. Nothing leaves the machine otherwise."""
        if self.tracer_provider is None and not self.settings.otlp_endpoint:
            return
        from tether.observability.tracing import export_run, tracer_provider_from_settings

        provider = self.tracer_provider
        owned = None
        if provider is None:
            owned = provider = tracer_provider_from_settings(self.settings.otlp_endpoint)
        if provider is None:
            return
        try:
            export_run(self.store.journal.read(run_id), provider)
        finally:
            if owned is not None:
                owned.shutdown()

    async def start(
        self,
        agent: Agent | str | Path,
        goal: str,
        *,
        model: str | None = None,
        status: RunStatus = RunStatus.RUNNING,
        tenant: str | None = None,
        user: str | None = None,
        extra_tools: Sequence[Tool] = (),
        budget: Budget | None = None,
        subject: str | None = None,
        session: str | None = None,
        origin: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        user_group: str | None = None,
        shadow_of: str | None = None,
    ) -> RunContext:
        """Check the agent, model and policies, create the run and journal ``run_started``
        (and, for a turn of ``session``, its ``session_context``).

        ``extra_tools`` join the agent's own (the tools of its MCP servers). Configuration
        errors raise here, before anything is stored. ``run_id``: a given id (a scheduled
        run's, derived from its schedule and time) instead of a new one. ``user_group``
        (default: the settings'): the user's group, for feature flags (``tether flags``; a
        trigger whose flag is off raises CapabilityDisabled here). ``shadow_of``: this is a
        shadow run of that production run (``tether runs shadow``).
        """
        budget = budget or Budget()
        run_id = run_id or new_run_id(self.clock)
        spec_agent = self.resolve_agent(agent)
        if self.route_versions:
            spec_agent = await asyncio.to_thread(
                self.route, spec_agent, tenant or self.settings.tenant, run_id
            )
        resolved_model = self.resolve_model(spec_agent, model)
        registry = ToolRegistry(
            [*spec_agent.resolved_tools(http_allow=self.settings.http_allow), *extra_tools],
            shared=self.validators,
        )
        self.policies.current()  # a policy file that does not load fails here
        tenant = tenant or self.settings.tenant
        user = user if user is not None else self.settings.user
        subject = subject if subject is not None else self.settings.subject
        user_group = user_group if user_group is not None else self.settings.user_group
        flags = await load_flags_async(self.store, tenant, user_group)
        refuse_trigger(flags, tenant, origin)  # a trigger switched off starts nothing
        carried = None
        if session is not None:
            carried = await asyncio.to_thread(
                self.session_context, check_session_id(session), tenant
            )
        now = self.clock.now()
        await asyncio.to_thread(
            self.store.runs.create,
            RunRecord(
                id=run_id,
                agent=spec_agent.name,
                agent_version=spec_agent.version,
                tether_version=tether_version(),
                goal=goal,
                model=resolved_model.id,
                status=status,
                created_at=now,
                updated_at=now,
                tenant=tenant,
                user_group=user_group,
                shadow_of=shadow_of,
            ),
        )
        if carried is not None:
            await asyncio.to_thread(self._add_turn, carried, tenant, run_id, spec_agent.name)
        state = RunState(run_id=run_id)
        if carried is not None:
            state.memory.session = carried.session  # working memory for the session's turns
        ctx = self._context(run_id, 0, spec_agent, resolved_model, registry, state)
        hashed = (
            None if subject is None else self.sealer.keyring.master.subject_hash(tenant, subject)
        )
        ctx.sealer = self.run_sealer(tenant, hashed)
        ctx.gate = self.gate(spec_agent, tenant, user, sealed=ctx.sealer is not None)
        ctx.tenant, ctx.budgets = tenant, self.budgets(spec_agent, tenant, budget)
        self.attach_memory(ctx, user)
        link = ctx.sealer.link if ctx.sealer is not None else None
        started = (
            ctx.key(0, "run_started"),
            RunStarted(
                goal=goal,
                agent=spec_agent.name,
                agent_version=spec_agent.version,
                agent_spec=spec_agent.portable_spec().model_dump(mode="json"),
                model=resolved_model.id,
                tools=list(ctx.registry.names()),
                limits=spec_agent.limits.model_dump(),
                tether_version=tether_version(),
                tenant=tenant,
                user=user,
                budget=budget.model_dump(mode="json", exclude_none=True),
                subject_hash=hashed,
                origin=dict(origin or {}),
                user_group=user_group,
                shadow_of=shadow_of,
            ),
        )
        context = [] if carried is None else [(ctx.key(0, "session_context"), carried)]
        await ctx.record_many(
            [started, *context], also=None if link is None else lambda conn, _: link(conn, run_id)
        )
        await enforce_flags(ctx, flags)  # journals what the tenant's or group's flags change
        return ctx

    def session_context(self, session: str, tenant: str) -> SessionContext:
        """What the next turn of ``session`` carries from the previous one; a previous turn
        that has not finished is a UsageError (turns run one after another)."""
        last = self.store.sessions.last(tenant, session)
        if last is None:
            return carry_over(session, 1, None, None)
        status = self.store.runs.status(last.run_id)
        if status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED):
            raise UsageError(
                f"session {session!r}: turn {last.turn} (run {last.run_id!r}) is still "
                f"{status.value}; wait for it to finish (or cancel it) before the next turn"
            )
        previous = RunState.replay(last.run_id, self.store.journal.read(last.run_id))
        return carry_over(session, last.turn + 1, previous, last.run_id)

    def _add_turn(self, carried: SessionContext, tenant: str, run_id: str, agent: str) -> None:
        turn = SessionTurn(
            tenant=tenant,
            session_id=carried.session,
            turn=carried.turn,
            run_id=run_id,
            agent=agent,
            created_at=self.clock.now(),
        )
        try:
            self.store.sessions.add(turn)
        except UsageError as exc:
            self.store.runs.update(run_id, status=RunStatus.FAILED, reason=str(exc))
            raise

    def memory_runtime(self, agent: Agent, model: Model, state: RunState) -> MemoryRuntime | None:
        """A run's working memory: the agent's ``working_memory``, or the defaults for a turn
        of a session; None when neither applies (the whole conversation is shown)."""
        config = agent.working_memory
        if config is None and state.memory.session is not None:
            config = WorkingMemory()
        if config is None:
            return None
        summarizer: Summarizer = ExtractiveSummarizer()
        if config.summarizer == "model":
            summary_model = model
            if config.summary_model is not None:
                summary_model = self.model_factory.build([config.summary_model])
            summarizer = ModelSummarizer(model=summary_model)
        return MemoryRuntime(config=config, summarizer=summarizer, counter=counter_for(model))

    def budgets(self, agent: Agent, tenant: str, run: Budget) -> RunBudgets:
        """Every budget of a run: its own, its agent's, its tenant's and its tools'."""
        return RunBudgets(
            run=run,
            role=agent.budget,
            role_name=agent.name,
            tenant=self.settings.tenant_budgets.get(tenant),
            tenant_name=tenant,
            tools=dict(agent.tools_budget),
        )

    def _context(
        self,
        run_id: str,
        segment: int,
        agent: Agent,
        model: Model,
        registry: ToolRegistry,
        state: RunState,
    ) -> RunContext:
        return RunContext(
            run_id=run_id,
            segment=segment,
            agent=agent,
            model=model,
            registry=registry,
            executor=self.executor,
            store=self.store,
            settings=self.settings,
            clock=self.clock,
            state=state,
            secrets=self.secrets,
            models=_per_run(lambda model_id: self.resolve_model(agent, model_id)),
            working=self.memory_runtime(agent, model, state),
        )

    def rebuild(
        self, run_id: str, segment: int, *, upto_segment: bool = True, need_model: bool = True
    ) -> RunContext:
        """A run's context rebuilt from the store, in any process.

        ``upto_segment``: apply only the events of earlier segments (a durable replay applies
        the segment's own events step by step); otherwise apply them all.
        """
        events = self.store.journal.read(run_id)
        started = next((e.payload for e in events if isinstance(e.payload, RunStarted)), None)
        if started is None:
            raise StoreError(f"run {run_id!r} has no run_started event; its journal is damaged")
        if started.subject_hash is not None:  # sealed PII: the state sees it opened
            events = open_events(self.sealer, started.tenant, events)
            started = next(e.payload for e in events if isinstance(e.payload, RunStarted))
        spec = AgentSpec.model_validate(started.agent_spec)
        agent = agent_from_spec(spec, source=f"run {run_id}")
        drift = version_drift(run_id, started, agent.version, tether_version())
        if drift is not None:
            log.warning("%s", drift)
        model: Model = (
            self.resolve_model(agent, started.model) if need_model else _NoModel(started.model)
        )
        kept = [
            e
            for e in events
            if not upto_segment or e.key.segment < segment or e.kind == "run_started"
        ]
        ctx = self._context(
            run_id,
            segment,
            agent,
            model,
            ToolRegistry(
                agent.resolved_tools(http_allow=self.settings.http_allow), shared=self.validators
            ),
            RunState.replay(run_id, kept),
        )
        ctx.applied.update(e.id for e in kept)
        ctx.sealer = self.run_sealer(started.tenant, started.subject_hash)
        ctx.gate = self.gate(agent, started.tenant, started.user, sealed=ctx.sealer is not None)
        ctx.tenant = started.tenant
        ctx.budgets = self.budgets(agent, started.tenant, Budget.model_validate(started.budget))
        self.attach_memory(ctx, started.user)
        if upto_segment:  # a segment to execute (not a report or a compensation)
            enforce_flags_sync(ctx, load_flags(self.store, started.tenant, started.user_group))
        return ctx

    async def drive(
        self,
        ctx: RunContext,
        runner: StepRunner | None = None,
        *,
        reraise: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Drive the loop to its end; a crash still leaves a final, displayable run.

        Exceptions in ``reraise`` (the durable layer's own) propagate instead.
        """
        runner = runner or DirectRunner()
        token = current_run.set(ctx.run_id)  # on every log line of its steps
        try:
            await drive_agent(ctx, runner)
        except reraise:
            raise
        except Exception as exc:
            log.exception("run %s crashed", ctx.run_id)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            await Finish(status=RunStatus.FAILED, reason=reason).run(ctx, runner)
        finally:
            current_run.reset(token)
        if self.route_versions and ctx.state.status.is_final:
            await asyncio.to_thread(self.watch_canary, ctx.run_id)

    def route(self, agent: Agent, tenant: str, run_id: str) -> Agent:
        """The version a new run of ``agent`` executes (tether/versions)."""
        from tether.versions.registry import VersionStore
        from tether.versions.route import route_agent

        return route_agent(VersionStore(self.store.engine), agent, tenant, run_id)

    def watch_canary(self, run_id: str) -> None:
        """After a finished run: stop its canary on a regression (never fails the run)."""
        from tether.versions.canary import Canaries
        from tether.versions.registry import VersionStore

        try:
            Canaries(VersionStore(self.store.engine)).watch_run(run_id)
        except Exception:
            log.warning("canary check after run %s failed", run_id, exc_info=True)

    def result(self, ctx: RunContext, wall_s: float = 0.0) -> RunResult:
        s = ctx.state
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
        self,
        agent: Agent | Team | str | Path,
        goal: str,
        *,
        model: str | None = None,
        on_delta: Callable[[str], None] | None = None,
        tenant: str | None = None,
        user: str | None = None,
        budget: Budget | None = None,
        subject: str | None = None,
        session: str | None = None,
        user_group: str | None = None,
    ) -> RunResult:
        """Blocking wrapper around ``run`` for scripts and the CLI."""
        return asyncio.run(
            self.run(
                agent,
                goal,
                model=model,
                on_delta=on_delta,
                tenant=tenant,
                user=user,
                budget=budget,
                subject=subject,
                session=session,
                user_group=user_group,
            )
        )


def _per_run(build: Callable[[str], Model]) -> Callable[[str], Model]:
    """``build`` resolving each model id once per run (a planner or fast model, tether/plan)."""
    built: dict[str, Model] = {}

    def get(model_id: str) -> Model:
        if model_id not in built:
            built[model_id] = build(model_id)
        return built[model_id]

    return get


@dataclass(frozen=True)
class _NoModel:
    """Stands in for a run's model where no model call is made (compensation, reports)."""

    model_id: str

    @property
    def id(self) -> str:
        return self.model_id

    async def request(self, request: ModelRequest) -> ModelResponse:
        raise ModelUnavailable(f"model {self.model_id!r} is not loaded in this process")
