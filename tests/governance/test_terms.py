"""Approval terms from policy annotations (pure)."""

from __future__ import annotations

import pytest

from tether.errors import ConfigError
from tether.governance.terms import ApprovalTerms, check_annotations, duration_s, terms_for


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("4h", 14400), ("2d", 172800)]
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "soon", "4w", "1h30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="positive duration"):
        duration_s(text)


def test_the_strictest_terms_win_over_the_defaults() -> None:
    defaults = ApprovalTerms(reviewers="ops", timeout_s=86400, escalate_to=None)
    got = terms_for(
        [
            {"approvers": "1", "approval_timeout": "4h"},
            {"approvers": "2", "reviewers": "finance", "approval_timeout": "1d"},
            {"reviewers": "legal", "escalate_to": "cfo"},
        ],
        defaults,
    )
    assert got == ApprovalTerms(
        approvers=2, reviewers="finance", timeout_s=14400, escalate_to="cfo"
    )
    assert terms_for([], defaults) == defaults
    assert terms_for([{"id": "x", "reason": "y"}]) == ApprovalTerms()


@pytest.mark.parametrize(
    ("notes", "message"),
    [
        ({"approvers": "0"}, "from 1 to 5"),
        ({"approvers": "two"}, "from 1 to 5"),
        ({"approval_timeout": "later"}, "positive duration"),
        ({"reviewers": "a group"}, "not a group name"),
        ({"escalate_to": ""}, "not a group name"),
    ],
)
def test_bad_annotations_name_the_policy(notes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"pay\.cedar: policy 'p1'.*{message}"):
        check_annotations("pay.cedar: policy 'p1'", notes)
