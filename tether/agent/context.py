"""The explicit context of one run segment: everything a step needs, passed by value."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tether.agent.spec import Agent
from tether.agent.state import RunState
from tether.clock import Clock
from tether.events import Event, EventKey, Payload
from tether.governance.budget import RunBudgets, Spend
from tether.governance.gate import PolicyGate
from tether.memory.services import MemoryServices
from tether.models.base import Model
from tether.privacy.runs import RunSealer
from tether.secrets import SecretSource
from tether.settings import Settings
from tether.store import Store
from tether.store.journal import Also, Batch
from tether.tools import ToolRegistry
from tether.tools.resilience import ToolRunner
from tether.types import ModelRequest

if TYPE_CHECKING:
    from tether.agent.memory.step import MemoryRuntime


@dataclass
class Deferred:
    """Journal batches a durable step leaves to the transaction that records the step
    (DESIGN §2.2): they commit with the step's record, or not at all, as if the process had
    crashed before the journal's commit."""

    batches: list[Batch] = field(default_factory=list)
    open: bool = True  # False once the step is recorded: later events commit on their own

    def take(self) -> list[Batch]:
        taken, self.batches = self.batches, []
        return taken

    def find(self, event_id: str) -> Event | None:
        return next((e for b in self.batches for e in b.events if e.id == event_id), None)


# the step executing in this task, when its journal writes are deferred (``deferring``)
_DEFERRED: ContextVar[Deferred | None] = ContextVar("tether_deferred_journal", default=None)


@contextmanager
def deferring(deferred: Deferred) -> Iterator[Deferred]:
    """Within the block (this task), ``record_many`` stages events in ``deferred`` instead of
    committing them; whoever opened it writes ``deferred.batches`` in its own transaction."""
    token = _DEFERRED.set(deferred)
    try:
        yield deferred
    finally:
        _DEFERRED.reset(token)


@dataclass(kw_only=True)
class RunContext:
    run_id: str
    segment: int
    agent: Agent
    model: Model
    registry: ToolRegistry
    executor: ToolRunner
    store: Store
    settings: Settings
    clock: Clock
    state: RunState
    secrets: SecretSource = field(default_factory=SecretSource)  # tools' scoped credentials
    mcp_connected: bool = False  # the agent's MCP servers' tools are in ``registry``
    check_journal: bool = False  # durable mode: a step whose result is journaled is not redone
    on_delta: Callable[[str], None] | None = None  # streamed text goes here as it arrives
    applied: set[str] = field(default_factory=set)
    gate: PolicyGate | None = None  # policy decisions before each tool and model call
    tenant: str = "default"
    budgets: RunBudgets = field(default_factory=RunBudgets)
    tenant_spent: Spend | None = None  # the tenant's other runs, as of the last step's check
    # plan/reflect modes: what the next model step asks (default: the ReAct prompt), and the
    # runtime's models by id (a planner or a fast model next to the agent's own)
    request_builder: Callable[[RunContext], ModelRequest] | None = None
    models: Callable[[str], Model] | None = None
    memory: MemoryServices | None = None  # episodic and profile stores (agents with ``memory:``)
    sealer: RunSealer | None = None  # about a subject: PII sealed in the journal, not redacted
    working: MemoryRuntime | None = None  # working memory (agent's ``working_memory``, sessions)

    def key(self, step: int, kind: str, index: int = 0) -> EventKey:
        return EventKey(run_id=self.run_id, segment=self.segment, step=step, kind=kind, index=index)

    async def record(self, key: EventKey, payload: Payload) -> Event:
        """Journal an event (redacted, idempotent) and apply it to the state.

        The state sees the redacted payload, exactly what a resumed run will read back (with
        a subject, its sealed PII opened again).
        """
        (event,) = await self.record_many([(key, payload)])
        return event

    async def record_many(
        self,
        items: Sequence[tuple[EventKey, Payload]],
        *,
        also: Also | None = None,
        commit: bool = False,
    ) -> list[Event]:
        """Journal several events in one transaction (one commit), then apply them in order.

        ``also(conn, stored)`` writes rows that must commit with the events. Inside a durable
        step (``deferring``) the events commit with the step's record instead, unless
        ``commit`` (a side effect's intent, journaled before the call) or ``also`` is given;
        such a commit takes the step's deferred events first, so the journal keeps its order.
        """
        now = self.clock.now()
        staged = [Event(key=k, payload=p, ts=now) for k, p in items]
        deferred = _DEFERRED.get()
        if deferred is not None and not deferred.open:
            deferred = None
        if deferred is not None and also is None and not commit:
            stored, seen = self._defer(deferred, staged)
        else:
            before = deferred.take() if deferred is not None else []
            stored, seen = await asyncio.to_thread(self._store, staged, also, before)
        for event in seen:
            self.state.apply(event)
            self.applied.add(event.id)
        return stored

    def _defer(self, deferred: Deferred, staged: list[Event]) -> tuple[list[Event], list[Event]]:
        if self.sealer is not None:
            staged = [replace(e, payload=self.sealer.seal(e.payload)) for e in staged]
        batch = self.store.journal.batch(staged)
        deferred.batches.append(batch)
        stored = batch.events
        return stored, stored if self.sealer is None else self.sealer.open(stored)

    def _store(
        self, staged: list[Event], also: Also | None, before: Sequence[Batch]
    ) -> tuple[list[Event], list[Event]]:
        if self.sealer is not None:
            staged = [replace(e, payload=self.sealer.seal(e.payload)) for e in staged]
        stored = self.store.journal.store(staged, also=also, before=before)
        return stored, stored if self.sealer is None else self.sealer.open(stored)

    async def journaled(self, key: EventKey) -> Event | None:
        """The stored event at ``key`` when steps check the journal (durable mode), else None."""
        if not self.check_journal:
            return None
        deferred = _DEFERRED.get()
        found = deferred.find(key.id) if deferred is not None else None
        if found is not None:
            return found
        return await asyncio.to_thread(self.store.journal.get, key.id)

    async def ensure_applied(self, event_ids: Sequence[str]) -> None:
        """Apply events a step produced in an earlier life of this segment (durable replay)."""
        for event_id in event_ids:
            if event_id in self.applied:
                continue
            event = await asyncio.to_thread(self.store.journal.get, event_id)
            if event is None:
                raise LookupError(f"journal has no event {event_id!r}")
            if self.sealer is not None:
                (event,) = await asyncio.to_thread(self.sealer.open, [event])
            self.state.apply(event)
            self.applied.add(event_id)
