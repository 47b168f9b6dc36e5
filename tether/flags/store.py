"""The ``tether_feature_flags`` table (migration 17): set, unset, list, and a tenant's flags."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tether.errors import UsageError
from tether.flags.model import Flag, Flags, check, resolve
from tether.store.engine import write_transaction
from tether.store.schema import feature_flags as table

_TENANT = 200


def _name(kind: str, value: str | None) -> str:
    if value is None:
        return ""
    if not value.strip() or len(value) > _TENANT:
        raise UsageError(f"flag {kind} {value!r}: give a non-empty name of at most 200 characters")
    return value


class FlagStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def set(self, tenant: str, capability: str, value: str, *, group: str | None = None) -> Flag:
        """Set ``capability`` to ``value`` for ``tenant`` (or its ``group``); returns the flag."""
        normal = check(capability, value)
        key = {"tenant": _name("tenant", tenant), "user_group": _name("group", group) or ""}
        now = datetime.now(UTC)
        with write_transaction(self._engine) as conn:
            where = sa.and_(*(table.c[k] == v for k, v in key.items()))
            updated = conn.execute(
                sa.update(table)
                .where(where, table.c.capability == capability)
                .values(value=normal, updated_at=now)
            )
            if updated.rowcount == 0:
                conn.execute(
                    sa.insert(table).values(
                        **key, capability=capability, value=normal, updated_at=now
                    )
                )
        return Flag(tenant=tenant, group=group, capability=capability, value=normal, updated_at=now)

    def unset(self, tenant: str, capability: str, *, group: str | None = None) -> bool:
        """Remove the flag (the capability goes back to its default); False if none was set."""
        with write_transaction(self._engine) as conn:
            result = conn.execute(
                sa.delete(table).where(
                    table.c.tenant == tenant,
                    table.c.user_group == (group or ""),
                    table.c.capability == capability,
                )
            )
        return bool(result.rowcount)

    def list(self, tenant: str | None = None) -> list[Flag]:
        stmt = sa.select(table).order_by(table.c.tenant, table.c.user_group, table.c.capability)
        if tenant is not None:
            stmt = stmt.where(table.c.tenant == tenant)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [
            Flag(
                tenant=r["tenant"],
                group=r["user_group"] or None,
                capability=r["capability"],
                value=r["value"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]

    def effective(self, tenant: str, group: str | None) -> Flags:
        """The flags in force for a run of ``tenant`` and ``group`` (one query)."""
        stmt = sa.select(table).where(
            table.c.tenant == tenant, table.c.user_group.in_(["", group or ""])
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        flags = [
            Flag(
                tenant=r["tenant"],
                group=r["user_group"] or None,
                capability=r["capability"],
                value=r["value"],
            )
            for r in rows
        ]
        return resolve(flags, tenant, group)
