"""tether's storage: the journal of run events and the run records, on SQLite or PostgreSQL.

``Store.open(url, redactor)`` creates the engine, applies the migrations and hands out the
:class:`~tether.store.journal.Journal` and :class:`~tether.store.runs.RunStore` that share it.
"""

from __future__ import annotations

from types import TracebackType

import sqlalchemy as sa

from tether.redact import Redactor
from tether.store.approvals import ApprovalRecord, ApprovalStore, Vote
from tether.store.controls import ControlStore, KillSwitch, Preflight
from tether.store.engine import make_engine, write_transaction
from tether.store.executors import ExecutorStore, Lease
from tether.store.journal import BLOB_THRESHOLD, Journal
from tether.store.migrations import MIGRATIONS, current_version, migrate
from tether.store.ratings import Rating, RatingStore
from tether.store.runs import RunRecord, RunStore
from tether.store.sessions import SessionStore, SessionTurn

__all__ = [
    "BLOB_THRESHOLD",
    "MIGRATIONS",
    "ApprovalRecord",
    "ApprovalStore",
    "ControlStore",
    "ExecutorStore",
    "Journal",
    "KillSwitch",
    "Lease",
    "Preflight",
    "Rating",
    "RatingStore",
    "RunRecord",
    "RunStore",
    "SessionStore",
    "SessionTurn",
    "Store",
    "Vote",
    "current_version",
    "make_engine",
    "migrate",
    "write_transaction",
]


class Store:
    """The journal and the run records over one engine. Close it (or use ``with``) when done."""

    def __init__(self, engine: sa.Engine, redactor: Redactor) -> None:
        self.engine = engine
        self.journal = Journal(engine, redactor)
        self.runs = RunStore(engine, redactor)
        self.executors = ExecutorStore(engine)
        self.controls = ControlStore(engine, redactor)
        self.approvals = ApprovalStore(engine, redactor)
        self.sessions = SessionStore(engine)
        self.ratings = RatingStore(engine, redactor)

    @classmethod
    def open(cls, url: str, redactor: Redactor, *, pool_size: int = 5) -> Store:
        """Connect to ``url`` (see ``TETHER_DB``) and bring its schema up to date.

        ``pool_size``: the most PostgreSQL connections this store holds (``TETHER_DB_POOL_SIZE``).
        """
        engine = make_engine(url, pool_size=pool_size)
        try:
            migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, redactor)

    def close(self) -> None:
        """Close every pooled connection (SQLite then checkpoints and removes its WAL file)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
