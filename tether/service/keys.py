"""API keys of the HTTP service: one tenant each, with scopes, stored hashed.

A key may name a user group of its tenant (``--group``): the runs created with it belong to
that group, so the group's feature flags (``tether flags ... --group G``) apply to them.

A key reads ``tk_<id>_<secret>``: ``id`` (12 hex digits) finds the row, ``secret`` (43
URL-safe characters, 256 bits) is checked against its SHA-256 in constant time. The plaintext
is shown once, when the key is created; the table holds only the hash, so a copy of the
database grants nothing. A fast hash is right here: the secret is random, not a password.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from tether.errors import UsageError
from tether.store.engine import write_transaction
from tether.store.schema import api_keys

SCOPES = (
    "runs:read",  # list and read runs, follow their events
    "runs:write",  # create, cancel and resume runs
    "approvals:read",  # see the approvals queue
    "approvals:decide",  # approve, edit or deny
    "memory:read",  # list, read and search the tenant's memory
    "memory:write",  # add items to it
    "memory:forget",  # forget a subject (crypto-shredding)
    "kill",  # set and lift kill switches on the tenant's own runs
    "admin",  # kill switches for every tenant, and every scope above
)
_KEY = re.compile(r"^tk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    id: str
    tenant: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    user_group: str | None = None  # the group its runs belong to (feature flags)

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "scopes": list(self.scopes),
            "user_group": self.user_group,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def checked_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, validated: an unknown one is an error that lists the known ones."""
    out = tuple(dict.fromkeys(scopes))
    unknown = [s for s in out if s not in SCOPES]
    if unknown or not out:
        raise UsageError(
            f"scope {', '.join(map(repr, unknown)) or '(none)'} is not known; "
            f"give one or more of: {', '.join(SCOPES)}"
        )
    return out


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """The ``tether_api_keys`` table."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def create(
        self,
        tenant: str,
        scopes: Sequence[str],
        *,
        name: str = "",
        group: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its plaintext (shown once); ``group``: the user group of its runs."""
        if not _TENANT.match(tenant):
            raise UsageError(
                f"tenant {tenant!r} is not valid: use letters, digits, '.', '_' or '-'"
            )
        if group is not None and not _TENANT.match(group):
            raise UsageError(
                f"group {group!r} is not valid: use letters, digits, '.', '_' or '-' "
                "(at most 200, starting with a letter or digit)"
            )
        key = ApiKey(
            id=secrets.token_hex(6),
            tenant=tenant,
            name=name,
            scopes=checked_scopes(scopes),
            created_at=datetime.now(UTC),
            user_group=group,
        )
        secret = secrets.token_urlsafe(32)
        with write_transaction(self._engine) as conn:
            conn.execute(
                sa.insert(api_keys).values(
                    id=key.id,
                    tenant=key.tenant,
                    name=key.name,
                    scopes=json.dumps(list(key.scopes)),
                    secret_sha256=_digest(secret),
                    created_at=key.created_at,
                    user_group=key.user_group,
                )
            )
        return key, f"tk_{key.id}_{secret}"

    def verify(self, token: str) -> ApiKey | None:
        """The live key ``token`` is, or None (malformed, unknown, revoked, wrong secret)."""
        match = _KEY.match(token)
        if match is None:
            return None
        key_id, secret = match.groups()
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
            return None
        return _key(row)

    def list(self, *, tenant: str | None = None) -> list[ApiKey]:
        stmt = sa.select(api_keys).order_by(api_keys.c.created_at)
        if tenant is not None:
            stmt = stmt.where(api_keys.c.tenant == tenant)
        with self._engine.connect() as conn:
            return [_key(r) for r in conn.execute(stmt)]

    def revoke(self, key_id: str) -> ApiKey:
        with write_transaction(self._engine) as conn:
            conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise UsageError(f"no API key {key_id!r}: see `tether keys list`")
        return _key(row)


def _key(row: sa.Row[object]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        scopes=tuple(json.loads(m["scopes"])),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
        user_group=m.get("user_group"),
    )
