"""Exact vector search over one tenant's vectors: a float32 matrix with its rows' metadata.

Pure: built from rows, filtered by numpy masks, searched by matrix-vector products. When most
rows pass the filters every row is scored and the others set to -inf (cheaper than copying the
allowed rows out); when few pass, only their rows are gathered and scored. The top ``n`` come
from ``argpartition`` then a stable sort. Each row also has a 63-bit key (:func:`item_key`) that
an ANN index returns; :meth:`VectorMatrix.positions` maps keys back to rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tether.memory._bert import F32
from tether.memory.ann import U64, item_keys
from tether.memory.search import Filters

I64 = npt.NDArray[np.int64]
_GATHER_BELOW = 0.25  # share of allowed rows under which they are gathered, not masked


@dataclass(frozen=True)
class VectorMatrix:
    generation: int  # the tenant's write generation it was loaded at
    ids: list[str]
    keys: U64  # item_key(id) per row
    vectors: F32  # (rows, dim), unit norm
    scope: npt.NDArray[np.str_]
    subject: npt.NDArray[np.str_]
    trust: npt.NDArray[np.str_]
    created: npt.NDArray[np.float64]  # POSIX seconds
    expires: npt.NDArray[np.float64]  # POSIX seconds, inf: never
    key_order: I64  # argsort of keys, for positions()

    @classmethod
    def from_rows(cls, rows: Sequence[Any], generation: int) -> VectorMatrix:
        """From rows with ``id, scope, subject, trust, created_at, expires_at, dim, embedding``."""
        r = list(rows)
        dim = r[0].dim if r else 0
        flat = np.frombuffer(b"".join(x.embedding for x in r), dtype=np.float32)
        ids = [x.id for x in r]
        keys = item_keys(ids)
        return cls(
            generation=generation,
            ids=ids,
            keys=keys,
            vectors=flat.reshape(len(r), dim),
            scope=np.array([x.scope for x in r], dtype=str),
            subject=np.array([x.subject or "" for x in r], dtype=str),
            trust=np.array([x.trust for x in r], dtype=str),
            created=np.array([x.created_at.timestamp() for x in r], dtype=np.float64),
            expires=np.array(
                [x.expires_at.timestamp() if x.expires_at else np.inf for x in r],
                dtype=np.float64,
            ),
            key_order=np.argsort(keys, kind="stable"),
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def unique_keys(self) -> bool:
        """Whether no two rows share a key (a 63-bit hash collision: then search stays exact)."""
        ordered = self.keys[self.key_order]
        return bool(len(ordered) < 2 or np.all(ordered[1:] != ordered[:-1]))

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

    def positions(self, keys: U64) -> I64:
        """The rows of ``keys``, in their order; keys this matrix lacks are left out."""
        ordered = self.keys[self.key_order]
        at = np.minimum(np.searchsorted(ordered, keys), max(len(ordered) - 1, 0))
        found = ordered[at] == keys if len(ordered) else np.zeros(len(keys), dtype=bool)
        out: I64 = self.key_order[at[found]]
        return out

    def top(self, query: F32, n: int, mask: npt.NDArray[np.bool_]) -> list[tuple[str, float]]:
        """The ``n`` allowed rows most similar to ``query`` (cosine), best first."""
        allowed = int(mask.sum())
        if allowed == 0 or n < 1:
            return []
        q = query.astype(np.float32)
        if allowed < _GATHER_BELOW * len(self.ids):
            return self.best(np.flatnonzero(mask), q, n)
        scores = self.vectors @ q
        scores[~mask] = -np.inf
        top = min(n, allowed)
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.ids[b], float(scores[b])) for b in best]

    def best(self, rows: I64, query: F32, n: int) -> list[tuple[str, float]]:
        """The ``n`` of ``rows`` most similar to ``query``, scored exactly, best first."""
        if len(rows) == 0 or n < 1:
            return []
        rows = np.sort(rows)  # ties resolve by row order, as in a full scan
        scores = self.vectors[rows] @ query.astype(np.float32)
        top = min(n, len(rows))
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.ids[rows[b]], float(scores[b])) for b in best]
