"""The notifier: the loop ``tether worker`` and ``tether serve`` run beside their work.

Each tick it reads ``notifications.yaml`` (edits apply at once), enqueues a notification for
every open approval that a webhook takes and has not got yet (the key ``approval:ID``; a crash
before the enqueue is made good at the next tick, a repeat is kept once), evaluates the alert
rules every ``check_every_s``, and delivers what is due. Every process may run one: the
outbox's claims keep each delivery to one sender at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa

from tether.notify import alerts, outbox
from tether.notify.config import Notifications, load_notifications
from tether.notify.deliver import Outcome, deliver_due
from tether.notify.messages import Transition, approval_message
from tether.store.approvals import OPEN
from tether.store.engine import write_transaction
from tether.store.schema import approvals
from tether.store.schema import notifications as table

if TYPE_CHECKING:
    from tether.runtime import Runtime

log = logging.getLogger("tether.notify")
_BATCH = 200


@dataclass(frozen=True, kw_only=True)
class Tick:
    enqueued: int = 0
    transitions: tuple[Transition, ...] = ()
    delivered: tuple[Outcome, ...] = ()


@dataclass(kw_only=True)
class Notifier:
    runtime: Runtime
    config_file: Path = field(default_factory=lambda: Path("notifications.yaml"))
    owner: str = "notifier"
    now: Callable[[], datetime] | None = None  # default: the runtime's clock
    _last_check: datetime | None = None

    def __post_init__(self) -> None:
        if self.now is None:
            self.now = self.runtime.clock.now

    def _now(self) -> datetime:
        assert self.now is not None
        return self.now()

    def config(self) -> Notifications:
        return load_notifications(self.config_file)

    def enqueue_approvals(self, config: Notifications) -> int:
        """Queue each open approval for each webhook that takes it and lacks it; how many."""
        engine = self.runtime.store.engine
        queued = 0
        for hook in config.webhooks:
            if "approvals" not in hook.send:
                continue
            sent = sa.select(table.c.key).where(table.c.webhook == hook.name)
            query = (
                sa.select(approvals.c.id)
                .where(approvals.c.status.in_(OPEN))
                .where((sa.literal("approval:") + approvals.c.id).not_in(sent))
                .order_by(approvals.c.created_at)
                .limit(_BATCH)
            )
            if hook.tenants is not None:
                query = query.where(approvals.c.tenant.in_(hook.tenants))
            with engine.connect() as conn:
                ids = list(conn.scalars(query))
            rows = []
            for approval in ids:
                record = self.runtime.store.approvals.get(approval)
                message = approval_message(record, self.runtime.redactor)
                rows.append(
                    outbox.row_values(
                        hook.name,
                        f"approval:{record.id}",
                        "approval",
                        record.tenant,
                        message,
                        self._now(),
                    )
                )
            with write_transaction(engine) as conn:
                outbox.enqueue(conn, rows)
            queued += len(rows)
        return queued

    def check_alerts(self, config: Notifications) -> list[Transition]:
        self._last_check = self._now()
        return alerts.check(self.runtime.store, config, self.runtime.redactor, now=self._now())

    def deliver(self, config: Notifications, client: httpx.Client) -> list[Outcome]:
        return deliver_due(
            self.runtime.store.engine,
            config,
            self.runtime.secrets.get,
            owner=self.owner,
            now=self._now,
            client=client,
        )

    def tick(self, client: httpx.Client, *, check: bool | None = None) -> Tick:
        """One round; ``check`` None: evaluate the rules when ``check_every_s`` has passed."""
        config = self.config()
        if config.empty:
            return Tick()
        if check is None:
            last = self._last_check
            check = last is None or (self._now() - last).total_seconds() >= config.check_every_s
        enqueued = self.enqueue_approvals(config)
        changes = self.check_alerts(config) if check and config.alerts else []
        return Tick(
            enqueued=enqueued,
            transitions=tuple(changes),
            delivered=tuple(self.deliver(config, client)),
        )

    def run(self, stop: threading.Event, *, every_s: float = 1.0) -> None:
        """Tick until ``stop`` is set (a failed tick is logged and retried at the next)."""
        with httpx.Client() as client:
            while not stop.is_set():
                try:
                    self.tick(client)
                except Exception:
                    log.warning("notifier tick failed", exc_info=True)
                stop.wait(every_s)


def start(
    runtime: Runtime, config_file: Path, *, owner: str, stop: threading.Event
) -> threading.Thread:
    """Run a ``Notifier`` in a daemon thread until ``stop`` is set."""
    notifier = Notifier(runtime=runtime, config_file=config_file, owner=owner)
    thread = threading.Thread(target=notifier.run, args=(stop,), name="notifier", daemon=True)
    thread.start()
    return thread
