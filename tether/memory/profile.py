"""Profile memory: a subject's preferences and settings as key-value pairs, by scope.

One row per ``(tenant, subject, scope, key)``; a write replaces the value (and keeps when the
key was first written). Each row records its origin (``trust``: ``user`` for what a person or
the application wrote, ``tool`` for what an agent wrote), ``source``, the ``reason`` it was
saved, its data labels and an optional expiry. Every method takes the tenant and filters on it.
Agents reach it only through :mod:`tether.memory.tools`, which checks the agent's declared scopes.
With a sealer, the PII in a value is sealed with the subject's data key before it is stored
and opened on read (:mod:`tether.memory.sealing`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tether.clock import Clock, SystemClock
from tether.errors import UsageError
from tether.memory.config import ReadPolicy, check_scope
from tether.memory.policy import data_labels, readable
from tether.privacy.seal import Sealer
from tether.store.schema import memory_profile as profile


def profile_id(tenant: str, subject: str, scope: str, key: str) -> str:
    raw = "\x1f".join((tenant, subject, scope, key)).encode()
    return "pf_" + hashlib.sha256(raw).hexdigest()[:29]


@dataclass(frozen=True, kw_only=True)
class ProfileEntry:
    id: str
    tenant: str
    subject: str
    scope: str
    key: str
    value: Any
    trust: str
    source: str
    reason: str
    run_id: str | None
    labels: tuple[str, ...]
    pii: bool
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "scope": self.scope,
            "key": self.key,
            "value": self.value,
            "trust": self.trust,
            "source": self.source,
            "reason": self.reason,
            "labels": list(self.labels),
            "updated_at": self.updated_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


class ProfileFull(UsageError):
    """The subject already has the most profile keys its write policy allows."""


@dataclass
class ProfileStore:
    engine: sa.Engine
    clock: Clock = field(default_factory=SystemClock)
    sealer: Sealer | None = None  # PII in values sealed with the subject's key

    def set(
        self,
        tenant: str,
        subject: str,
        scope: str,
        key: str,
        value: Any,
        *,
        trust: str = "user",
        source: str = "",
        reason: str = "",
        run_id: str | None = None,
        ttl_s: float | None = None,
        max_keys: int | None = None,
    ) -> ProfileEntry:
        """Write ``key`` = ``value`` (JSON) for ``subject``; ``max_keys`` caps how many keys
        the subject may have (a new key beyond it raises :class:`ProfileFull`)."""
        _check(tenant, subject, scope, key)
        labels, pii = data_labels(value)
        stored = self.sealer.seal_value(tenant, subject, value) if self.sealer else value
        text = json.dumps(stored, ensure_ascii=False, sort_keys=True)
        now = self.clock.now()
        row_id = profile_id(tenant, subject, scope, key)
        values = {
            "value": text,
            "trust": trust,
            "source": source,
            "reason": reason,
            "run_id": run_id,
            "labels": json.dumps(labels),
            "pii": pii,
            "updated_at": now,
            "expires_at": now + timedelta(seconds=ttl_s) if ttl_s is not None else None,
        }
        with self.engine.begin() as conn:
            exists = conn.scalar(sa.select(profile.c.id).where(profile.c.id == row_id))
            if exists is not None:
                conn.execute(sa.update(profile).where(profile.c.id == row_id).values(**values))
            else:
                if max_keys is not None and self._count(conn, tenant, subject) >= max_keys:
                    raise ProfileFull(
                        f"subject {subject!r} has {max_keys} profile keys, the most its write "
                        "policy allows; delete one or raise memory.write.max_profile_keys"
                    )
                conn.execute(
                    sa.insert(profile).values(
                        id=row_id,
                        tenant=tenant,
                        subject=subject,
                        scope=scope,
                        key=key,
                        created_at=now,
                        **values,
                    )
                )
            row = conn.execute(sa.select(profile).where(profile.c.id == row_id)).one()
        return replace(_entry(row), value=value)

    @staticmethod
    def _count(conn: sa.Connection, tenant: str, subject: str) -> int:
        stmt = sa.select(sa.func.count()).where(
            profile.c.tenant == tenant, profile.c.subject == subject
        )
        return int(conn.scalar(stmt) or 0)

    def get(
        self,
        tenant: str,
        subject: str,
        scope: str,
        key: str,
        *,
        read: ReadPolicy | None = None,
    ) -> ProfileEntry | None:
        """The entry, if it exists, has not expired and ``read`` (default: PII allowed, any
        age) lets it be read."""
        _check(tenant, subject, scope, key)
        found = self.entries(tenant, subject, scopes=[scope], read=read)
        return next((e for e in found if e.key == key), None)

    def entries(
        self,
        tenant: str,
        subject: str,
        *,
        scopes: Sequence[str] | None = None,
        read: ReadPolicy | None = None,
        include_expired: bool = False,
    ) -> list[ProfileEntry]:
        """The subject's entries (in ``scopes`` when given) that ``read`` allows, by scope
        and key."""
        _check_tenant(tenant)
        policy = read or ReadPolicy(allow_pii=True)
        stmt = sa.select(profile).where(profile.c.tenant == tenant, profile.c.subject == subject)
        if scopes is not None:
            stmt = stmt.where(profile.c.scope.in_(list(scopes)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(profile.c.scope, profile.c.key)).all()
        now = self.clock.now()
        entries = [_entry(r) for r in rows]
        if self.sealer is not None:
            opened = self.sealer.open_values(tenant, [e.value for e in entries])
            entries = [replace(e, value=v) for e, v in zip(entries, opened, strict=True)]
        return [
            e
            for e in entries
            if include_expired
            or readable(
                policy, pii=e.pii, created_at=e.updated_at, expires_at=e.expires_at, now=now
            )
        ]

    def subjects(self, tenant: str) -> list[str]:
        _check_tenant(tenant)
        stmt = sa.select(profile.c.subject).where(profile.c.tenant == tenant).distinct()
        with self.engine.connect() as conn:
            return sorted(conn.scalars(stmt))

    def delete(self, tenant: str, subject: str, scope: str, key: str) -> bool:
        _check(tenant, subject, scope, key)
        row_id = profile_id(tenant, subject, scope, key)
        stmt = sa.delete(profile).where(profile.c.id == row_id).returning(profile.c.id)
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def delete_subject(self, tenant: str, subject: str) -> list[str]:
        """Delete every profile entry of ``subject`` in ``tenant``; returns their ids."""
        _check_tenant(tenant)
        where = (profile.c.tenant == tenant, profile.c.subject == subject)
        with self.engine.begin() as conn:
            ids = list(conn.scalars(sa.select(profile.c.id).where(*where)))
            conn.execute(sa.delete(profile).where(*where))
        return ids


def _check_tenant(tenant: str) -> None:
    if not tenant:
        raise UsageError("memory calls need a tenant; pass one (TETHER_TENANT, default 'default')")


def _check(tenant: str, subject: str, scope: str, key: str) -> None:
    _check_tenant(tenant)
    if not subject:
        raise UsageError("profile memory needs a subject (the user it is about); pass one")
    try:
        check_scope(scope)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not key or len(key) > 200:
        raise UsageError(f"profile key {key!r} must have 1 to 200 characters")


def _entry(row: sa.Row[Any]) -> ProfileEntry:
    return ProfileEntry(
        id=row.id,
        tenant=row.tenant,
        subject=row.subject,
        scope=row.scope,
        key=row.key,
        value=json.loads(row.value),
        trust=row.trust,
        source=row.source,
        reason=row.reason,
        run_id=row.run_id,
        labels=tuple(json.loads(row.labels)),
        pii=bool(row.pii),
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
    )
