"""Browsing a tenant's semantic memory: list items and read one, with provenance.

What the HTTP API and the dashboard show of memory besides search. Every query filters on the
tenant; sealed PII is opened with the tenant's keys (a forgotten subject's reads
``[encrypted:KIND]``). Expired items are listed too, marked by ``expires_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tether.memory.store import StoredChunk, chunk_fields
from tether.privacy.seal import Sealer
from tether.store.schema import memory_chunks as chunks


@dataclass(frozen=True, kw_only=True)
class StoredItem(StoredChunk):
    """A semantic memory item as stored, with its expiry."""

    expires_at: datetime | None
    tier: str = "semantic"

    def to_json(self) -> dict[str, Any]:
        return (
            {"id": self.id, "tier": self.tier}
            | self.chunk_json()
            | {
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            }
        )


_COLUMNS = (
    chunks.c.id,
    chunks.c.text,
    chunks.c.source,
    chunks.c.heading,
    chunks.c.start_offset,
    chunks.c.end_offset,
    chunks.c.scope,
    chunks.c.subject,
    chunks.c.trust,
    chunks.c.created_at,
    chunks.c.expires_at,
)


def list_items(
    engine: sa.Engine,
    sealer: Sealer | None,
    tenant: str,
    *,
    scope: str | None = None,
    subject: str | None = None,
    limit: int = 50,
) -> list[StoredItem]:
    """The tenant's newest ``limit`` items (optionally of one scope or subject)."""
    stmt = sa.select(*_COLUMNS).where(chunks.c.tenant == tenant)
    if scope is not None:
        stmt = stmt.where(chunks.c.scope == scope)
    if subject is not None:
        stmt = stmt.where(chunks.c.subject == subject)
    stmt = stmt.order_by(chunks.c.created_at.desc(), chunks.c.id).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return _opened(sealer, tenant, [_item(r) for r in rows])


def get_item(engine: sa.Engine, sealer: Sealer | None, tenant: str, item_id: str) -> StoredItem:
    """The tenant's item with exactly this id; ``KeyError`` if it has none."""
    stmt = sa.select(*_COLUMNS).where(chunks.c.tenant == tenant, chunks.c.id == item_id)
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        raise KeyError(item_id)
    return _opened(sealer, tenant, [_item(row)])[0]


def _item(row: Any) -> StoredItem:
    return StoredItem(**chunk_fields(row), expires_at=row.expires_at)


def _opened(sealer: Sealer | None, tenant: str, items: list[StoredItem]) -> list[StoredItem]:
    if sealer is None or not items:
        return items
    texts = sealer.open(tenant, [t for i in items for t in (i.text, *i.heading)])
    out, at = [], 0
    for item in items:
        size = 1 + len(item.heading)
        out.append(replace(item, text=texts[at], heading=tuple(texts[at + 1 : at + size])))
        at += size
    return out
