"""Expiry and compaction of episodic and profile memory (``tether memory compact``).

:func:`expire` deletes the rows whose ``expires_at`` has passed; :func:`compact` expires, then
trims each subject's episodes and profile keys to the caps (per tenant and subject, oldest
first). Both take ``now`` from the caller's clock, so a fake clock tests them, and return the
ids they deleted. Run ``compact`` periodically (cron, a worker tick); each episode written at
the end of a run also trims its subject to the agent's ``max_episodes`` (:func:`trim_episodes`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tether.store.schema import memory_episodes as episodes
from tether.store.schema import memory_profile as profile


@dataclass(kw_only=True)
class Compaction:
    """The ids deleted, by tier and reason."""

    expired: dict[str, list[str]] = field(default_factory=lambda: {"episodic": [], "profile": []})
    trimmed: dict[str, list[str]] = field(default_factory=lambda: {"episodic": [], "profile": []})

    def to_json(self) -> dict[str, Any]:
        return {"expired": self.expired, "trimmed": self.trimmed}

    @property
    def deleted(self) -> int:
        return sum(len(v) for v in (*self.expired.values(), *self.trimmed.values()))


def expire(engine: sa.Engine, now: datetime, *, tenant: str | None = None) -> Compaction:
    """Delete every episode and profile entry that expired at or before ``now``."""
    out = Compaction()
    with engine.begin() as conn:
        for tier, table in (("episodic", episodes), ("profile", profile)):
            conds = [table.c.expires_at.is_not(None), table.c.expires_at <= now]
            if tenant is not None:
                conds.append(table.c.tenant == tenant)
            out.expired[tier] = _delete(conn, table, conds)
    return out


def compact(
    engine: sa.Engine,
    now: datetime,
    *,
    tenant: str | None = None,
    max_episodes: int | None = None,
    max_profile_keys: int | None = None,
) -> Compaction:
    """Expire, then keep at most ``max_episodes`` episodes (newest) and ``max_profile_keys``
    profile keys (most recently written) per tenant and subject."""
    out = expire(engine, now, tenant=tenant)
    with engine.begin() as conn:
        if max_episodes is not None:
            out.trimmed["episodic"] = _trim(
                conn, episodes, episodes.c.created_at, max_episodes, tenant
            )
        if max_profile_keys is not None:
            out.trimmed["profile"] = _trim(
                conn, profile, profile.c.updated_at, max_profile_keys, tenant
            )
    return out


def trim_episodes(conn: sa.Connection, tenant: str, subject: str | None, cap: int) -> list[str]:
    """In the caller's transaction: keep the newest ``cap`` episodes of one subject."""
    subject_cond = (
        episodes.c.subject.is_(None) if subject is None else episodes.c.subject == subject
    )
    stmt = (
        sa.select(episodes.c.id)
        .where(episodes.c.tenant == tenant, subject_cond)
        .order_by(episodes.c.created_at.desc(), episodes.c.id.desc())
        .offset(cap)
    )
    old = list(conn.scalars(stmt))
    if old:
        conn.execute(sa.delete(episodes).where(episodes.c.id.in_(old)))
    return old


def _trim(
    conn: sa.Connection, table: sa.Table, order: sa.Column[Any], cap: int, tenant: str | None
) -> list[str]:
    stmt = sa.select(table.c.id, table.c.tenant, table.c.subject)
    if tenant is not None:
        stmt = stmt.where(table.c.tenant == tenant)
    stmt = stmt.order_by(table.c.tenant, table.c.subject, order.desc(), table.c.id.desc())
    seen: dict[tuple[str, str | None], int] = defaultdict(int)
    old: list[str] = []
    for row in conn.execute(stmt):
        group = (row.tenant, row.subject)
        seen[group] += 1
        if seen[group] > cap:
            old.append(row.id)
    for start in range(0, len(old), 500):
        conn.execute(sa.delete(table).where(table.c.id.in_(old[start : start + 500])))
    return old


def _delete(conn: sa.Connection, table: sa.Table, conds: list[sa.ColumnElement[bool]]) -> list[str]:
    ids = list(conn.scalars(sa.select(table.c.id).where(*conds)))
    if ids:
        conn.execute(sa.delete(table).where(*conds))
    return ids
