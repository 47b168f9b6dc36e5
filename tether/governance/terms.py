"""The terms of an approval: how many people, which reviewer group, how long, then what.

Policies state them as annotations on the ``forbid`` that keeps a call from running
unattended (pure functions; the loader checks the annotations when it loads a file)::

    @id("payments.over_1000_two_people")
    @approvers("2")                 // two distinct people must approve
    @reviewers("finance")           // the reviewer group that sees it
    @approval_timeout("4h")         // seconds, or 90s / 30m / 4h / 2d
    @escalate_to("cfo")             // on timeout hand it to this group (else: deny)
    forbid (principal, action == Action::"invoke_unattended", resource == Tool::"pay")
    when { context has amount && context.amount > 1000 };

When several policies ask for approval, the strictest terms win: the most approvers, the
shortest timeout; the first policy naming a group or an escalation sets it. Settings give the
defaults (``TETHER_APPROVAL_REVIEWERS``, ``TETHER_APPROVAL_TIMEOUT_S``,
``TETHER_APPROVAL_ESCALATE_TO``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tether.errors import ConfigError

ANNOTATIONS = ("approvers", "reviewers", "approval_timeout", "escalate_to")
MAX_APPROVERS = 5
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_GROUP = re.compile(r"^[A-Za-z0-9_.:@-]{1,200}$")


@dataclass(frozen=True, kw_only=True)
class ApprovalTerms:
    approvers: int = 1
    reviewers: str = "reviewers"
    timeout_s: float | None = None  # None: waits until someone decides
    escalate_to: str | None = None  # None: a timeout denies


def duration_s(text: str) -> float:
    """``"90"``, ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"`` in seconds; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a positive duration like 90s, 30m, 4h or 2d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def check_annotations(where: str, annotations: Mapping[str, str]) -> None:
    """Raise ``ConfigError`` (naming ``where``) for an approval annotation tether cannot use."""
    try:
        if "approvers" in annotations:
            _approvers(annotations["approvers"])
        if "approval_timeout" in annotations:
            duration_s(annotations["approval_timeout"])
        for name in ("reviewers", "escalate_to"):
            if name in annotations and not _GROUP.match(annotations[name]):
                raise ValueError(
                    f"@{name}({annotations[name]!r}) is not a group name "
                    "(letters, digits and _.:@-)"
                )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}; fix the annotation") from exc


def terms_for(
    annotations: Iterable[Mapping[str, str]], defaults: ApprovalTerms = ApprovalTerms()
) -> ApprovalTerms:
    """The combined terms of the deciding policies' annotations, over ``defaults``."""
    approvers, timeout = defaults.approvers, defaults.timeout_s
    reviewers: str | None = None
    escalate: str | None = None
    for a in annotations:
        if "approvers" in a:
            approvers = max(approvers, _approvers(a["approvers"]))
        if "approval_timeout" in a:
            t = duration_s(a["approval_timeout"])
            timeout = t if timeout is None else min(timeout, t)
        reviewers = reviewers or a.get("reviewers")
        escalate = escalate or a.get("escalate_to")
    return ApprovalTerms(
        approvers=approvers,
        reviewers=reviewers or defaults.reviewers,
        timeout_s=timeout,
        escalate_to=escalate or defaults.escalate_to,
    )


def _approvers(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_APPROVERS:
        raise ValueError(f"@approvers({text!r}) must be a whole number from 1 to {MAX_APPROVERS}")
    return int(text)
