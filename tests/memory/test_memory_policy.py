"""The pure memory policy decisions: outcomes, the episode score, write refusals, readability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tether.memory.config import MemoryConfig, ProfileAccess, ReadPolicy, WritePolicy
from tether.memory.episodic import outcome_of
from tether.memory.policy import (
    HALF_LIFE_S,
    combined_score,
    combined_scores,
    data_labels,
    profile_write_refusal,
    readable,
    recency,
)
from tether.types import RunStatus


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (RunStatus.SUCCEEDED, "success"),
        (RunStatus.FAILED, "failure"),
        (RunStatus.KILLED, "failure"),
        (RunStatus.CANCELLED, "failure"),
        (RunStatus.MAX_STEPS, "partial"),
        (RunStatus.BUDGET_EXCEEDED, "partial"),
        (RunStatus.NO_PROGRESS, "partial"),
        (RunStatus.NEEDS_REVIEW, "partial"),
    ],
)
def test_outcome_of_a_final_status(status: RunStatus, outcome: str) -> None:
    assert outcome_of(status) == outcome


def test_the_combined_score() -> None:
    assert recency(0) == 1.0 and recency(HALF_LIFE_S) == pytest.approx(0.5)
    assert combined_score(1.0, 0) == pytest.approx(1.0)
    assert combined_score(-0.4, 0) == pytest.approx(0.3)  # negative similarity counts as 0
    # a close old match beats a recent unrelated one; equal matches: the newer first
    assert combined_score(0.9, 60 * HALF_LIFE_S) > combined_score(0.2, 0)
    assert combined_score(0.8, 0) > combined_score(0.8, HALF_LIFE_S)
    sims = np.array([0.9, 0.2, -0.1, 0.8], dtype=np.float32)
    ages = np.array([60 * HALF_LIFE_S, 0, 10, HALF_LIFE_S])
    expected = [combined_score(float(s), float(a)) for s, a in zip(sims, ages, strict=True)]
    assert combined_scores(sims, ages) == pytest.approx(expected)


def test_profile_write_refusals() -> None:
    config = MemoryConfig(
        profile=ProfileAccess(write=["preferences"]),
        write=WritePolicy(keys=["ui_*", "format"], max_value_chars=10),
    )
    assert profile_write_refusal(config, "preferences", "ui_theme", '"dark"', False) is None
    assert "not writable" in str(profile_write_refusal(config, "billing", "format", "x", False))
    assert "allowed keys" in str(profile_write_refusal(config, "preferences", "tz", "x", False))
    assert "shorten" in str(profile_write_refusal(config, "preferences", "format", "x" * 11, False))
    assert "PII" in str(profile_write_refusal(config, "preferences", "format", "x", True))
    allow = config.model_copy(update={"write": WritePolicy(allow_pii=True)})
    assert profile_write_refusal(allow, "preferences", "anything", "x", True) is None


def test_readable_by_expiry_freshness_and_pii() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    day = now - timedelta(days=1)
    open_policy = ReadPolicy(allow_pii=True)
    assert readable(open_policy, pii=True, created_at=day, expires_at=None, now=now)
    assert not readable(open_policy, pii=False, created_at=day, expires_at=now, now=now)
    assert not readable(ReadPolicy(), pii=True, created_at=now, expires_at=None, now=now)
    fresh = ReadPolicy(max_age_s=3600)
    assert not readable(fresh, pii=False, created_at=day, expires_at=None, now=now)
    assert readable(fresh, pii=False, created_at=now, expires_at=None, now=now)


def test_data_labels() -> None:
    assert data_labels("prefers tea") == ([], False)
    assert data_labels({"to": "bob@example.com"}) == (["email", "pii"], True)
    labels, pii = data_labels("call [REDACTED:phone] later")  # masked PII is still PII
    assert pii and "redacted:phone" in labels
    assert data_labels("token [REDACTED:api_key]")[1] is False
