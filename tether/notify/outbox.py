"""The durable notification outbox (migration 18): what to send, claimed, retried, settled.

A notification is one row per (webhook, idempotency key): enqueueing the same key twice (two
workers, a replayed tick) keeps one row. A sender *claims* a due row (``status`` ``sending``,
``attempts`` + 1, ``next_at`` = the claim's expiry) in one conditional update, so two senders
never hold the same row; after the POST it settles the row ``delivered``, or ``pending`` again
at ``next_at`` = now + :func:`backoff_s`, or ``dead`` after the webhook's last attempt. A sender
killed between the claim and the settle leaves a claim that expires: the row is sent again, with
the same ``X-Tether-Delivery`` key, so nothing is lost and a receiver drops the repeat.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from tether.store.engine import insert_ignoring_conflicts, write_transaction
from tether.store.schema import notifications as table

Status = Literal["pending", "sending", "delivered", "dead"]
_DUE = ("pending", "sending")


@dataclass(frozen=True, kw_only=True)
class Notification:
    id: str
    webhook: str
    key: str
    kind: str
    tenant: str | None
    body: str
    status: Status
    attempts: int
    next_at: datetime
    created_at: datetime
    delivered_at: datetime | None = None
    last_error: str | None = None
    claimed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("body", "claimed_by")}
        for k in ("next_at", "created_at", "delivered_at"):
            out[k] = out[k].isoformat() if out[k] else None
        return out | {"message": json.loads(self.body)}


def notification_id(webhook: str, key: str) -> str:
    return "ntf_" + hashlib.sha256(f"{webhook}\n{key}".encode()).hexdigest()[:32]


def backoff_s(attempts: int, *, base_s: float = 2.0, cap_s: float = 600.0) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 2, 4, 8 ... at most 10 min."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def row_values(
    webhook: str, key: str, kind: str, tenant: str | None, message: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": notification_id(webhook, key),
        "webhook": webhook,
        "key": key,
        "kind": kind,
        "tenant": tenant,
        "body": json.dumps(message, ensure_ascii=False, sort_keys=True),
        "status": "pending",
        "attempts": 0,
        "next_at": now,
        "created_at": now,
    }


def enqueue(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Add ``rows`` (from :func:`row_values`) in the caller's transaction; repeats are kept once."""
    if rows:
        conn.execute(insert_ignoring_conflicts(conn, table), rows)


def _record(row: Any) -> Notification:
    return Notification(
        id=row.id,
        webhook=row.webhook,
        key=row.key,
        kind=row.kind,
        tenant=row.tenant,
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        next_at=row.next_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
        claimed_by=row.claimed_by,
    )


def claim(
    engine: sa.Engine, *, owner: str, now: datetime, lease_s: float, limit: int = 20
) -> list[Notification]:
    """Take up to ``limit`` due rows (pending, or a claim that expired) for ``owner``."""
    due = (table.c.status.in_(_DUE), table.c.next_at <= now)
    with engine.connect() as conn:
        ids = conn.scalars(
            sa.select(table.c.id).where(*due).order_by(table.c.next_at).limit(limit)
        ).all()
    taken: list[Notification] = []
    for nid in ids:
        with write_transaction(engine) as conn:
            done = conn.execute(
                sa.update(table)
                .where(table.c.id == nid, *due)
                .values(
                    status="sending",
                    claimed_by=owner,
                    attempts=table.c.attempts + 1,
                    next_at=now + timedelta(seconds=lease_s),
                )
            )
            if done.rowcount == 1:
                taken.append(_record(conn.execute(sa.select(table).where(table.c.id == nid)).one()))
    return taken


def settle(
    engine: sa.Engine,
    item: Notification,
    *,
    now: datetime,
    error: str | None,
    max_attempts: int,
) -> Status:
    """Record how ``item``'s delivery went (``error`` None: delivered); its new status."""
    status: Status
    values: dict[str, Any]
    if error is None:
        status, values = "delivered", {"delivered_at": now, "last_error": None}
    elif item.attempts >= max_attempts:
        status, values = "dead", {"last_error": error[:2000]}
    else:
        retry_at = now + timedelta(seconds=backoff_s(item.attempts))
        status, values = "pending", {"last_error": error[:2000], "next_at": retry_at}
    where = [table.c.id == item.id, table.c.status != "delivered"]
    if error is not None:  # a failure counts only while the claim is still ours
        where += [table.c.status == "sending", table.c.claimed_by == item.claimed_by]
    with write_transaction(engine) as conn:
        conn.execute(
            sa.update(table).where(*where).values(status=status, claimed_by=None, **values)
        )
    return status


def list_notifications(
    engine: sa.Engine, *, status: str | None = None, limit: int = 100
) -> list[Notification]:
    query = sa.select(table).order_by(table.c.created_at.desc(), table.c.id).limit(limit)
    if status is not None:
        query = query.where(table.c.status == status)
    with engine.connect() as conn:
        return [_record(r) for r in conn.execute(query)]
