"""What a semantic-store backend does, and the SQL filter every backend applies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from tether.memory._bert import F32
from tether.memory.search import Filters
from tether.store.schema import memory_chunks as chunks

GenerationFn = Callable[[str], int]  # tenant -> its write generation (all scopes)


class Backend(Protocol):
    """The dialect's side of the semantic store. Writes run in the store's transaction."""

    def insert(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert new chunk rows (``tether_memory_chunks`` columns) and index them."""
        ...

    def delete(self, conn: sa.Connection, where: Sequence[sa.ColumnElement[bool]]) -> None:
        """Delete the chunk rows matching ``where`` and their index entries."""
        ...

    def fulltext(
        self, tenant: str, terms: Sequence[str], n: int, where: Sequence[sa.ColumnElement[bool]]
    ) -> list[str]:
        """The ids of the best ``n`` rows for any of ``terms`` among those matching ``where``."""
        ...

    def vector(
        self, tenant: str, query: F32, n: int, filters: Filters, now: datetime
    ) -> list[tuple[str, float]]:
        """The ``n`` rows of ``tenant`` (this model) most similar to ``query``: (id, cosine)."""
        ...


def conditions(
    tenant: str, model: str, filters: Filters, now: datetime
) -> list[sa.ColumnElement[bool]]:
    """The SQL form of a search's filters: tenant, model, unexpired, scope, subject, trust,
    freshness. Every query of every backend starts from these."""
    conds = [
        chunks.c.tenant == tenant,
        chunks.c.model == model,
        sa.or_(chunks.c.expires_at.is_(None), chunks.c.expires_at > now),
    ]
    if filters.scope is not None:
        conds.append(chunks.c.scope == filters.scope)
    if filters.subject is not None:
        conds.append(chunks.c.subject == filters.subject)
    if filters.trust is not None:
        conds.append(chunks.c.trust.in_(sorted(filters.trust)))
    if filters.since is not None:
        conds.append(chunks.c.created_at >= filters.since)
    return conds
