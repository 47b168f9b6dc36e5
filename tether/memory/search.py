"""Pure retrieval decisions: filters, the FTS5 query of a question, reciprocal-rank fusion,
and the canonical key of a search (for the result cache)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

Trust = Literal["user", "tool", "retrieval"]
"""Where an item came from. Only ``user`` items were written by a person or the application;
``tool`` (tool output) and ``retrieval`` items are data, never instructions."""
TRUST_LEVELS: tuple[Trust, ...] = get_args(Trust)
Mode = Literal["hybrid", "vector", "fulltext"]
MODES: tuple[Mode, ...] = get_args(Mode)
RRF_K = 60

_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to help bm25 find a passage (questions are full of them).
STOPWORDS = frozenset(
    """a about after all also an and any are as at be been before being but by can could did do
    does doing for from had has have how i if in into is it its may me might must my no not of on
    once one only or other our out over own should so some such than that the their them then there
    these they this those through to too under until up us very was we were what when where which
    while who whom why will with would you your""".split()
)


@dataclass(frozen=True, kw_only=True)
class Filters:
    """Which items a search may return (the tenant is always given separately)."""

    scope: str | None = None
    subject: str | None = None
    trust: frozenset[Trust] | None = None  # None: every level
    since: datetime | None = None  # freshness: created at or after

    def __post_init__(self) -> None:
        unknown = set(self.trust or ()) - set(TRUST_LEVELS)
        if unknown:
            raise ValueError(
                f"unknown trust level(s) {sorted(unknown)!r}; use {', '.join(TRUST_LEVELS)}"
            )

    def canonical(self) -> dict[str, object]:
        return {
            "scope": self.scope,
            "subject": self.subject,
            "trust": sorted(self.trust) if self.trust is not None else None,
            "since": self.since.isoformat() if self.since else None,
        }


def fts_terms(text: str) -> list[str]:
    """The words of a free-text question that full-text search looks for: lower-cased, once
    each, stopwords dropped (all of them kept when nothing else is left). Only word characters,
    so punctuation and query operators in the input mean nothing."""
    words = [w.lower() for w in _WORD.findall(text)]
    return [w for w in dict.fromkeys(words) if w not in STOPWORDS] or list(dict.fromkeys(words))


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for a free-text question: its terms (:func:`fts_terms`),
    quoted and OR-ed so that bm25 ranks passages by how many of them they have. None when
    nothing is left to match."""
    terms = fts_terms(text)
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


def rrf(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: ``score(d) = Σ w_i / (k + rank_i(d))`` (ranks from 1), best first.
    Ties keep the order of the first ranking that has the item."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def search_key(tenant: str, query: str, *, k: int, mode: Mode, filters: Filters) -> str:
    """The result cache's key: sha256 of the canonical search (whitespace and case of the
    query folded)."""
    payload = {
        "tenant": tenant,
        "query": " ".join(query.lower().split()),
        "k": k,
        "mode": mode,
        "filters": filters.canonical(),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
