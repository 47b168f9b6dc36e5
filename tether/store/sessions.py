"""Session turns (``tether_session_turns``): which run is turn N of a tenant's session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tether.errors import UsageError
from tether.store.engine import write_transaction
from tether.store.schema import session_turns as turns


@dataclass(frozen=True, kw_only=True)
class SessionTurn:
    tenant: str
    session_id: str
    turn: int
    run_id: str
    agent: str
    created_at: datetime


class SessionStore:
    """The turns of sessions, always within one tenant."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def last(self, tenant: str, session_id: str) -> SessionTurn | None:
        """The latest turn of the session, or None for a new session."""
        query = (
            sa.select(turns)
            .where(turns.c.tenant == tenant, turns.c.session_id == session_id)
            .order_by(turns.c.turn.desc())
            .limit(1)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else SessionTurn(**dict(row))

    def turns(self, tenant: str, session_id: str) -> list[SessionTurn]:
        query = (
            sa.select(turns)
            .where(turns.c.tenant == tenant, turns.c.session_id == session_id)
            .order_by(turns.c.turn)
        )
        with self._engine.connect() as conn:
            return [SessionTurn(**dict(r)) for r in conn.execute(query).mappings()]

    def add(self, turn: SessionTurn) -> None:
        """Record a turn; a turn number already taken (a concurrent turn) is a UsageError."""
        try:
            with write_transaction(self._engine) as conn:
                conn.execute(sa.insert(turns).values(**turn.__dict__))
        except IntegrityError as exc:
            raise UsageError(
                f"session {turn.session_id!r} already has a turn {turn.turn}: turns of one "
                "session run one after another; retry when the other turn has finished"
            ) from exc
