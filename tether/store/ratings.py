"""People's ratings of runs: thumbs up or down, tags, a correction (``tether_ratings``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from tether.errors import UsageError
from tether.redact import Redactor
from tether.store.engine import write_transaction
from tether.store.schema import ratings

Thumbs = Literal["up", "down"]


@dataclass(frozen=True, kw_only=True)
class Rating:
    id: int
    run_id: str
    by: str
    thumbs: Thumbs | None
    tags: tuple[str, ...]
    correction: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "by": self.by,
            "thumbs": self.thumbs,
            "tags": list(self.tags),
            "correction": self.correction,
            "created_at": self.created_at.isoformat(),
        }


class RatingStore:
    def __init__(self, engine: sa.Engine, redactor: Redactor) -> None:
        self._engine = engine
        self._redactor = redactor

    def add(
        self,
        run_id: str,
        *,
        by: str,
        tenant: str | None,
        thumbs: Thumbs | None = None,
        tags: Sequence[str] = (),
        correction: str | None = None,
    ) -> Rating:
        if thumbs is None and not tags and not correction:
            raise UsageError("a rating needs thumbs (up or down), a tag or a correction")
        now = datetime.now(UTC)
        text = self._redactor.redact_text(correction) if correction else None
        with write_transaction(self._engine) as conn:
            new_id = conn.execute(
                sa.insert(ratings)
                .values(
                    run_id=run_id,
                    tenant=tenant,
                    by=by,
                    thumbs=thumbs,
                    tags=json.dumps(list(tags)),
                    correction=text,
                    created_at=now,
                )
                .returning(ratings.c.id)
            ).scalar_one()
        return Rating(
            id=int(new_id),
            run_id=run_id,
            by=by,
            thumbs=thumbs,
            tags=tuple(tags),
            correction=text,
            created_at=now,
        )

    def of_run(self, run_id: str) -> list[Rating]:
        stmt = sa.select(ratings).where(ratings.c.run_id == run_id).order_by(ratings.c.id)
        with self._engine.connect() as conn:
            return [
                Rating(
                    id=r.id,
                    run_id=r.run_id,
                    by=r.by,
                    thumbs=r.thumbs,
                    tags=tuple(json.loads(r.tags)),
                    correction=r.correction,
                    created_at=r.created_at,
                )
                for r in conn.execute(stmt)
            ]
