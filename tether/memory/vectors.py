"""Exact vector search over one tenant's vectors: a float32 matrix with its rows' metadata.

Pure: built from rows, filtered by numpy masks, searched by one matrix-vector product. Every
row is scored and the masked ones set to -inf (cheaper than copying the allowed rows out);
the top ``n`` come from ``argpartition`` then a stable sort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tether.memory._bert import F32
from tether.memory.search import Filters


@dataclass(frozen=True)
class VectorMatrix:
    generation: int  # the tenant's write generation it was loaded at
    ids: list[str]
    vectors: F32  # (rows, dim), unit norm
    scope: npt.NDArray[np.str_]
    subject: npt.NDArray[np.str_]
    trust: npt.NDArray[np.str_]
    created: npt.NDArray[np.float64]  # POSIX seconds
    expires: npt.NDArray[np.float64]  # POSIX seconds, inf: never

    @classmethod
    def from_rows(cls, rows: Sequence[Any], generation: int) -> VectorMatrix:
        """From rows with ``id, scope, subject, trust, created_at, expires_at, dim, embedding``."""
        dim = rows[0].dim if rows else 0
        flat = np.frombuffer(b"".join(r.embedding for r in rows), dtype=np.float32)
        return cls(
            generation=generation,
            ids=[r.id for r in rows],
            vectors=flat.reshape(len(rows), dim),
            scope=np.array([r.scope for r in rows], dtype=str),
            subject=np.array([r.subject or "" for r in rows], dtype=str),
            trust=np.array([r.trust for r in rows], dtype=str),
            created=np.array([r.created_at.timestamp() for r in rows], dtype=np.float64),
            expires=np.array(
                [r.expires_at.timestamp() if r.expires_at else np.inf for r in rows],
                dtype=np.float64,
            ),
        )

    def mask(self, filters: Filters, now: float) -> npt.NDArray[np.bool_]:
        """The rows that pass ``filters`` and have not expired at ``now`` (POSIX seconds)."""
        mask: npt.NDArray[np.bool_] = self.expires > now
        if filters.scope is not None:
            mask &= self.scope == filters.scope
        if filters.subject is not None:
            mask &= self.subject == filters.subject
        if filters.trust is not None:
            mask &= np.isin(self.trust, sorted(filters.trust))
        if filters.since is not None:
            mask &= self.created >= filters.since.timestamp()
        return mask

    def top(self, query: F32, n: int, mask: npt.NDArray[np.bool_]) -> list[tuple[str, float]]:
        """The ``n`` allowed rows most similar to ``query`` (cosine), best first."""
        allowed = int(mask.sum())
        if allowed == 0 or n < 1:
            return []
        scores = self.vectors @ query.astype(np.float32)
        scores[~mask] = -np.inf
        top = min(n, allowed)
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.ids[b], float(scores[b])) for b in best]
