"""A run about a data subject: PII in its journal payloads sealed with the subject's key.

Without a subject, the redactor replaces PII with ``[REDACTED:email]`` before the journal, and
the run's state (so the model and the tools) sees the marker. With one, :class:`RunSealer` seals
the PII spans of each payload instead (secrets are still redacted), and opens the stored events
again for the state: the live run, a resumed segment and its tools see the real values, while
the journal, and everything copied from it, holds only tokens. After ``forget`` the subject's
key is gone and the tokens stay unreadable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from tether.events import Event, Payload, parse_payload
from tether.privacy.keys import DataKey
from tether.privacy.pii import PII_KINDS, detect
from tether.privacy.seal import Sealer, open_value, seal_value, value_key_ids
from tether.store.engine import insert_ignoring_conflicts
from tether.store.schema import subject_runs

__all__ = ["RunSealer", "open_events"]


def _has_pii(value: object) -> bool:
    if isinstance(value, str):
        return any(s.kind in PII_KINDS for s in detect(value))
    if isinstance(value, dict):
        return any(_has_pii(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_pii(v) for v in value)
    return False


@dataclass(kw_only=True)
class RunSealer:
    """Seals one run's payloads for a subject (by keyed hash) and opens events of ``tenant``."""

    sealer: Sealer
    tenant: str
    subject_hash: str
    _key: DataKey | None = field(default=None, repr=False)

    @property
    def key(self) -> DataKey:
        if self._key is None:
            self._key = self.sealer.keyring.key_for_hash(self.tenant, self.subject_hash)
        return self._key

    def seal(self, payload: Payload) -> Payload:
        """The payload with its PII sealed (the same object when it has none). Blocking."""
        dumped = payload.model_dump(mode="json")
        if not _has_pii(dumped):
            return payload
        return parse_payload(seal_value(dumped, self.key, PII_KINDS))

    def open(self, events: Sequence[Event]) -> list[Event]:
        """``events`` with the tokens of their payloads opened, for the run state. Blocking."""
        return open_events(self.sealer, self.tenant, events, known=self._key)

    def link(self, conn: sa.Connection, run_id: str) -> None:
        """Record that ``run_id`` is about this subject (in the caller's transaction)."""
        row = {"run_id": run_id, "tenant": self.tenant, "subject_hash": self.subject_hash}
        conn.execute(insert_ignoring_conflicts(conn, subject_runs), row)


def open_events(
    sealer: Sealer, tenant: str, events: Sequence[Event], *, known: DataKey | None = None
) -> list[Event]:
    """``events`` with their tokens opened (one key lookup for all; ``known`` needs none)."""
    dumped = {e.id: e.payload.model_dump(mode="json") for e in events}
    needed = set().union(*(value_key_ids(d) for d in dumped.values())) if dumped else set()
    if not needed:
        return list(events)
    keys = {known.id: known} if known is not None and known.id in needed else {}
    if needed - keys.keys():
        keys |= sealer.keyring.keys(tenant, needed - keys.keys())
    out = []
    for event in events:
        data = dumped[event.id]
        if not value_key_ids(data):
            out.append(event)
            continue
        payload = parse_payload(open_value(data, keys))
        out.append(Event(key=event.key, payload=payload, seq=event.seq, ts=event.ts, v=event.v))
    return out
