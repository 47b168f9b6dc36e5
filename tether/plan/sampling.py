"""Self-consistency: when the model is unsure of its plan, ask for variants, keep the one most
of them agree on (pure: plans in, a choice out)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tether.plan.graph import Plan


@dataclass(frozen=True, kw_only=True)
class Choice:
    plan: Plan
    agreement: int  # how many samples matched it
    samples: int


def pick_by_agreement(plans: Sequence[Plan]) -> Choice:
    """The plan whose signature (tools and arguments, ids aside) most samples share; on a tie
    the earliest, then the most confident."""
    if not plans:
        raise ValueError("no plan to pick from")
    counts = Counter(p.signature() for p in plans)
    best = max(counts.values())
    tied = [p for p in plans if counts[p.signature()] == best]
    chosen = max(tied, key=lambda p: (p.confidence, -plans.index(p)))
    return Choice(plan=chosen, agreement=best, samples=len(plans))
