"""Pure memory policy decisions: the data labels of a value, whether an agent may write a
profile value, whether an item may be read, and the combined score of a recalled episode."""

from __future__ import annotations

import fnmatch
import json
import math
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from tether.governance.labels import labels_of_text
from tether.memory.config import MemoryConfig, ReadPolicy
from tether.redact import Redactor

HALF_LIFE_S = 7 * 24 * 3600.0  # an episode's recency halves every week
RECENCY_WEIGHT = 0.3  # share of recency in an episode's combined score


def data_labels(value: Any) -> tuple[list[str], bool]:
    """The sorted data labels of ``value`` (``email``, ``pii``, ``redacted:phone``...) and
    whether it holds PII (in the clear or as a redaction marker of a PII kind)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    labels = labels_of_text(text, Redactor())
    pii = "pii" in labels or any(
        label.startswith("redacted:") and label[9:] in _PII_KINDS for label in labels
    )
    return sorted(labels | ({"pii"} if pii else set())), pii


_PII_KINDS = frozenset({"email", "phone", "credit_card", "iban", "ssn"})


def profile_write_refusal(
    config: MemoryConfig, scope: str, key: str, value_text: str, pii: bool
) -> str | None:
    """Why an agent may not save ``key`` in ``scope`` (a message the model can act on), or
    None when the write policy allows it. The size cap is checked by the store."""
    if scope not in config.profile.write:
        allowed = ", ".join(config.profile.write) or "none"
        return f"profile scope {scope!r} is not writable by this agent (writable: {allowed})"
    patterns = config.write.keys
    if patterns and not any(fnmatch.fnmatchcase(key, p) for p in patterns):
        return f"key {key!r} may not be saved; allowed keys match {', '.join(patterns)}"
    if len(value_text) > config.write.max_value_chars:
        return (
            f"the value has {len(value_text)} characters; at most "
            f"{config.write.max_value_chars} may be saved: shorten it"
        )
    if pii and not config.write.allow_pii:
        return "the value holds personal data (PII), which this agent may not save"
    return None


def readable(
    read: ReadPolicy, *, pii: bool, created_at: datetime, expires_at: datetime | None, now: datetime
) -> bool:
    """Whether the read policy lets an item be returned at ``now``."""
    if expires_at is not None and expires_at <= now:
        return False
    if pii and not read.allow_pii:
        return False
    return read.max_age_s is None or (now - created_at).total_seconds() <= read.max_age_s


def recency(age_s: float, half_life_s: float = HALF_LIFE_S) -> float:
    """``0.5 ** (age / half_life)``: 1 for a brand-new item, 0.5 after one half-life."""
    return math.pow(0.5, max(0.0, age_s) / half_life_s)


def combined_score(
    similarity: float,
    age_s: float,
    *,
    weight: float = RECENCY_WEIGHT,
    half_life_s: float = HALF_LIFE_S,
) -> float:
    """An episode's recall score: ``(1 - w) * max(0, cosine) + w * recency(age)``.

    With ``w = 0.3`` and a one-week half-life a close match wins over a recent unrelated one,
    and of two equally close episodes the newer one comes first."""
    return (1.0 - weight) * max(0.0, similarity) + weight * recency(age_s, half_life_s)


def combined_scores(
    similarities: npt.NDArray[np.float32],
    ages_s: npt.NDArray[np.float64],
    *,
    weight: float = RECENCY_WEIGHT,
    half_life_s: float = HALF_LIFE_S,
) -> npt.NDArray[np.float64]:
    """:func:`combined_score` of many episodes at once (numpy)."""
    sims = np.maximum(similarities.astype(np.float64), 0.0)
    fresh = np.power(0.5, np.maximum(ages_s, 0.0) / half_life_s)
    return (1.0 - weight) * sims + weight * fresh
