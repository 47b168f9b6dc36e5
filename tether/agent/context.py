"""The explicit context of one run segment: everything a step needs, passed by value."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tether.agent.spec import Agent
from tether.agent.state import RunState
from tether.clock import Clock
from tether.events import Event, EventKey, Payload, parse_payload
from tether.models.base import Model
from tether.redact import Redactor
from tether.settings import Settings
from tether.store import Store
from tether.tools import ToolExecutor, ToolRegistry


@dataclass(kw_only=True)
class RunContext:
    run_id: str
    segment: int
    agent: Agent
    model: Model
    registry: ToolRegistry
    executor: ToolExecutor
    store: Store
    redactor: Redactor
    settings: Settings
    clock: Clock
    state: RunState

    def key(self, step: int, kind: str, index: int = 0) -> EventKey:
        return EventKey(run_id=self.run_id, segment=self.segment, step=step, kind=kind, index=index)

    async def record(self, key: EventKey, payload: Payload) -> Event:
        """Journal an event (redacted, idempotent) and apply it to the state.

        The state sees the redacted payload, exactly what a resumed run will read back.
        """
        stored = self._redacted(payload)
        event = Event(key=key, payload=stored, ts=self.clock.now())
        seq = await asyncio.to_thread(self.store.journal.append, event)
        event = Event(key=key, payload=stored, ts=event.ts, seq=seq)
        self.state.apply(event)
        return event

    def _redacted(self, payload: Payload) -> Payload:
        data: Any = payload.model_dump(mode="json")
        return parse_payload(self.redactor.redact(data))
