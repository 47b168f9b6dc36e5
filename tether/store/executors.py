"""Executor leases: which process executes runs, and whether it is still alive.

Every process that executes runs holds a row in ``tether_executors`` whose lease it renews by
heartbeat. A run records the executor executing it (``tether_runs.executor_id``). A run may be
taken over only when its executor's lease has expired, and only by one claimant: ``claim_run``
is a compare-and-swap on the run's executor id.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tether.store.engine import write_transaction
from tether.store.schema import executors, runs


@dataclass(frozen=True, kw_only=True)
class Lease:
    id: str
    kind: str
    host: str
    pid: int
    heartbeat_at: datetime
    lease_expires_at: datetime
    stopped_at: datetime | None

    def alive(self, now: datetime) -> bool:
        return self.stopped_at is None and self.lease_expires_at > now


class ExecutorStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def register(self, executor_id: str, kind: str, lease_s: float) -> Lease:
        """Take (or renew) the lease of ``executor_id`` for this process."""
        now = datetime.now(UTC)
        values = {
            "kind": kind,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now,
            "heartbeat_at": now,
            "lease_expires_at": now + timedelta(seconds=lease_s),
            "stopped_at": None,
        }
        with write_transaction(self._engine) as conn:
            updated = conn.execute(
                executors.update().where(executors.c.id == executor_id).values(**values)
            ).rowcount
            if not updated:
                conn.execute(executors.insert().values(id=executor_id, **values))
        lease = self.get(executor_id)
        assert lease is not None
        return lease

    def heartbeat(self, executor_id: str, lease_s: float, kind: str = "worker") -> None:
        """Renew the lease (re-registering the executor if its row was pruned)."""
        now = datetime.now(UTC)
        with write_transaction(self._engine) as conn:
            renewed = conn.execute(
                executors.update()
                .where(executors.c.id == executor_id)
                .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_s))
            ).rowcount
        if not renewed:
            self.register(executor_id, kind, lease_s)

    def prune(self, executor_ids: Sequence[str], now: datetime | None = None) -> int:
        """Delete the rows of executors whose lease is still expired (done with: nothing of
        theirs is left to adopt); a lease renewed meanwhile keeps its row. Returns the count."""
        if not executor_ids:
            return 0
        when = now or datetime.now(UTC)
        with write_transaction(self._engine) as conn:
            return int(
                conn.execute(
                    executors.delete().where(
                        executors.c.id.in_(list(executor_ids)),
                        executors.c.lease_expires_at <= when,
                    )
                ).rowcount
            )

    def stop(self, executor_id: str) -> None:
        """Give the lease up: the executor's unfinished runs may be adopted at once."""
        now = datetime.now(UTC)
        with write_transaction(self._engine) as conn:
            conn.execute(
                executors.update()
                .where(executors.c.id == executor_id)
                .values(stopped_at=now, lease_expires_at=now)
            )

    def get(self, executor_id: str) -> Lease | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(executors).where(executors.c.id == executor_id)).first()
        if row is None:
            return None
        return Lease(
            id=row.id,
            kind=row.kind,
            host=row.host,
            pid=row.pid,
            heartbeat_at=row.heartbeat_at,
            lease_expires_at=row.lease_expires_at,
            stopped_at=row.stopped_at,
        )

    def expired(self, now: datetime | None = None) -> list[str]:
        """Ids of executors whose lease has expired (or that stopped)."""
        when = now or datetime.now(UTC)
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(executors.c.id).where(executors.c.lease_expires_at <= when)
            ).all()
        return [r.id for r in rows]

    def claim_run(self, run_id: str, expected: str | None, new: str) -> bool:
        """Make ``new`` the run's executor if it is still ``expected``; True if it was."""
        cond = runs.c.executor_id.is_(None) if expected is None else runs.c.executor_id == expected
        with write_transaction(self._engine) as conn:
            changed = conn.execute(
                runs.update().where(runs.c.id == run_id, cond).values(executor_id=new)
            ).rowcount
        return bool(changed)

    def open_runs(
        self, executor_ids: Sequence[str], statuses: tuple[str, ...]
    ) -> list[tuple[str, str]]:
        """``(run_id, executor_id)`` of the runs of any of ``executor_ids`` in ``statuses``."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(runs.c.id, runs.c.executor_id)
                .where(runs.c.executor_id.in_(list(executor_ids)), runs.c.status.in_(statuses))
                .order_by(runs.c.id)
            ).all()
        return [(r.id, r.executor_id) for r in rows]

    def runs_of(self, executor_id: str, statuses: tuple[str, ...]) -> list[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(runs.c.id).where(
                    runs.c.executor_id == executor_id, runs.c.status.in_(statuses)
                )
            ).all()
        return [r.id for r in rows]
