"""The journal: each run's append-only, ordered sequence of typed events.

Events are redacted before they are stored and inserted idempotently on their deterministic
id (``ON CONFLICT DO NOTHING``), so a retried write returns the row already there. Payloads
over :data:`BLOB_THRESHOLD` bytes live in ``tether_blobs`` under their sha256 and are read
back transparently. A :class:`Batch` is events redacted and encoded but not yet inserted: a
durable step hands its batches to the transaction that records the step (one commit for both).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from tether.errors import StoreError
from tether.events import Event, EventKey, Payload, parse_payload
from tether.redact import Redactor
from tether.store.engine import insert_ignoring_conflicts, write_transaction
from tether.store.schema import blobs, events

BLOB_THRESHOLD = 256 * 1024  # bytes of payload JSON kept inline in tether_events
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, stateless
Also = Callable[[sa.Connection, list[Event]], None]


@dataclass(frozen=True, kw_only=True)
class _Row:
    values: dict[str, Any]
    event: Event  # as stored: redacted payload, timestamp set
    blob: bytes | None = None


@dataclass(frozen=True)
class Batch:
    """Events redacted and encoded for the journal, not yet inserted (:meth:`Journal.write`)."""

    rows: tuple[_Row, ...]

    @property
    def events(self) -> list[Event]:
        """The events as they will be stored (redacted), before they have a ``seq``."""
        return [row.event for row in self.rows]


class Journal:
    """Appends and reads journal events (thread-safe: share one per engine)."""

    def __init__(self, engine: sa.Engine, redactor: Redactor) -> None:
        self._engine = engine
        self._redactor = redactor
        # built once: SQLAlchemy then reuses their compiled form for every append
        self._insert_event = insert_ignoring_conflicts(engine, events).returning(events.c.seq)
        self._insert_events = insert_ignoring_conflicts(engine, events)  # many, no seqs back
        self._insert_blob = insert_ignoring_conflicts(engine, blobs)
        self._seq_of = sa.select(events.c.seq).where(events.c.event_id == sa.bindparam("id"))

    def append(self, event: Event) -> int:
        """Store ``event`` (redacted) unless its id is already stored; returns its ``seq``."""
        row = self._row(event)
        with write_transaction(self._engine) as conn:
            return self._insert(conn, row)

    def append_many(self, items: Iterable[Event]) -> list[int]:
        """Store several events in one transaction; returns their ``seq`` values in order."""
        return [event.seq for event in self.store(items)]

    def store(
        self,
        items: Iterable[Event],
        *,
        also: Also | None = None,
        before: Sequence[Batch] = (),
    ) -> list[Event]:
        """Store several events in one transaction; returns them as stored: redacted, with
        their ``seq`` (a duplicate returns the seq already stored).

        ``also(conn, stored)`` runs in the same transaction after the inserts (a row that must
        commit with the events, e.g. an approval request). ``before``: batches staged earlier,
        inserted first in the same transaction (so that they keep their order)."""
        rows = [self._row(event) for event in items]
        if not rows and not before:
            return []
        with write_transaction(self._engine) as conn:
            self.write(conn, before)
            stored = self._stored(rows, [self._insert(conn, row) for row in rows])
            if also is not None:
                also(conn, stored)
        return stored

    def batch(self, items: Iterable[Event]) -> Batch:
        """Redact and encode ``items`` now, to insert later in some transaction."""
        return Batch(rows=tuple(self._row(event) for event in items))

    def write(self, conn: sa.Connection, batches: Sequence[Batch]) -> None:
        """Insert staged batches inside ``conn``'s transaction in one statement per table
        (an ``executemany``; the rows' ``seq`` values are not read back): a durable step's
        events in DBOS's transaction that records the step (DESIGN §2.2). A row already stored
        (a retried transaction) is left as it is; ids are positions (``EventKey.id``), so
        one id never stands for two positions."""
        rows = [row for b in batches for row in b.rows]
        if not rows:
            return
        blobbed = [row for row in rows if row.blob is not None]
        try:
            if blobbed:
                now = datetime.now(UTC)
                conn.execute(self._insert_blob, [_blob_values(row, now) for row in blobbed])
            conn.execute(self._insert_events, [row.values for row in rows])
        except IntegrityError as exc:
            run = rows[0].values["run_id"]
            raise StoreError(
                f"cannot journal events of run {run!r}: no such run in tether_runs; create the "
                "run (RunStore.create) before journaling its events"
            ) from exc

    def store_in(self, conn: sa.Connection, items: Iterable[Event]) -> list[Event]:
        """Like :meth:`store`, inside the caller's transaction ``conn`` (one commit with the
        caller's own writes)."""
        rows = [self._row(event) for event in items]
        return self._stored(rows, [self._insert(conn, row) for row in rows])

    @staticmethod
    def _stored(rows: Sequence[_Row], seqs: Sequence[int]) -> list[Event]:
        return [
            Event(key=row.event.key, payload=row.event.payload, ts=row.event.ts, seq=seq)
            for row, seq in zip(rows, seqs, strict=True)
        ]

    def read(
        self, run_id: str, *, after_seq: int = 0, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """The run's events with ``seq > after_seq`` (optionally of some kinds), by seq."""
        stmt = _select().where(events.c.run_id == run_id, events.c.seq > after_seq)
        if kinds is not None:
            stmt = stmt.where(events.c.kind.in_(list(kinds)))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(events.c.seq)).all()
        return [_to_event(row) for row in rows]

    def get(self, event_id: str) -> Event | None:
        """The event with this id, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(_select().where(events.c.event_id == event_id)).first()
        return None if row is None else _to_event(row)

    def _row(self, event: Event) -> _Row:
        data, payload = self._redacted(event)
        text = _JSON.encode(data)
        key = event.key
        ts = event.ts or datetime.now(UTC)
        stored = Event(key=key, payload=payload, ts=ts, v=event.v)
        values: dict[str, Any] = {
            "event_id": key.id,
            "run_id": key.run_id,
            "segment": key.segment,
            "step": key.step,
            "kind": key.kind,
            "idx": key.index,
            "v": event.v,
            "ts": ts,
            "payload": text,
            "payload_blob": None,
        }
        raw = text.encode()
        if len(raw) <= BLOB_THRESHOLD:
            return _Row(values=values, event=stored)
        values.update(payload=None, payload_blob=hashlib.sha256(raw).hexdigest())
        return _Row(values=values, event=stored, blob=raw)

    def _redacted(self, event: Event) -> tuple[dict[str, Any], Payload]:
        # Redact JSON-level values, then validate back: markers are strings, so a redacted
        # payload stays valid for its type. Nothing redacted: the payload is what it was.
        dumped = event.payload.model_dump(mode="json")
        data: dict[str, Any] = self._redactor.redact(dumped)
        if data is dumped:
            return data, event.payload
        try:
            return data, parse_payload(data)
        except ValidationError as exc:
            raise StoreError(f"event {event.id!r} is invalid after redaction: {exc}") from exc

    def _insert(self, conn: sa.Connection, row: _Row) -> int:
        values = row.values
        try:
            if row.blob is not None:
                conn.execute(self._insert_blob, _blob_values(row, datetime.now(UTC)))
            seq = conn.execute(self._insert_event, values).scalar_one_or_none()
        except IntegrityError as exc:
            raise StoreError(
                f"cannot journal event {values['event_id']!r}: no run {values['run_id']!r} "
                "in tether_runs; create the run (RunStore.create) before journaling its events"
            ) from exc
        if seq is None:  # already stored: a retried write
            seq = conn.scalar(self._seq_of, {"id": values["event_id"]})
        if seq is None:
            raise StoreError(
                f"event {values['event_id']!r} conflicts with a stored event at the same "
                "position under another id; event ids must come from EventKey"
            )
        return int(seq)


def _blob_values(row: _Row, now: datetime) -> dict[str, Any]:
    data = row.blob or b""
    return {
        "digest": row.values["payload_blob"],
        "size": len(data),
        "data": data,
        "created_at": now,
    }


def _select() -> sa.Select[Any]:
    joined = events.outerjoin(blobs, events.c.payload_blob == blobs.c.digest)
    return sa.select(
        events.c.seq,
        events.c.run_id,
        events.c.segment,
        events.c.step,
        events.c.kind,
        events.c.idx,
        events.c.v,
        events.c.ts,
        events.c.payload,
        blobs.c.data,
    ).select_from(joined)


def _to_event(row: sa.Row[Any]) -> Event:
    key = EventKey(
        run_id=row.run_id, segment=row.segment, step=row.step, kind=row.kind, index=row.idx
    )
    if row.payload is None and row.data is None:
        raise StoreError(f"stored event {key.id!r} lost its payload blob; restore tether_blobs")
    text = row.payload if row.payload is not None else bytes(row.data).decode()
    try:
        payload = parse_payload(json.loads(text))
    except (ValidationError, ValueError) as exc:
        raise StoreError(f"stored event {key.id!r} cannot be read: {exc}") from exc
    return Event(key=key, payload=payload, seq=int(row.seq), ts=row.ts, v=row.v)
