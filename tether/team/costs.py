"""What each role of a team run spent, from the run's journal (pure).

A ``team_turn`` event gives its turn's step range; every ``budget_charged`` event whose step
falls in a turn's range belongs to that turn's role. The roles' sums add up to the run's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tether.events import BudgetCharged, Event, TeamTurn
from tether.governance.budget import Spend, charge_spend


@dataclass(frozen=True, kw_only=True)
class RoleCost:
    turns: int
    spend: Spend
    model_calls: int

    def to_json(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "model_calls": self.model_calls,
            "tokens": self.spend.tokens,
            "cost": str(self.spend.money_micros / 1_000_000),
            "tool_calls": self.spend.tool_calls,
        }


def role_of_steps(events: Iterable[Event]) -> list[tuple[int, int, str]]:
    """``(first step, end step, role)`` of each turn of a team run."""
    return [
        (e.payload.step_base, e.payload.step_base + e.payload.step_cap, e.payload.role)
        for e in events
        if isinstance(e.payload, TeamTurn)
    ]


def role_costs(events: Iterable[Event]) -> dict[str, RoleCost]:
    """Spend, turns and model calls per role; empty for a run that is not a team's."""
    events = list(events)
    ranges = role_of_steps(events)
    if not ranges:
        return {}
    turns: dict[str, int] = {}
    for _, _, role in ranges:
        turns[role] = turns.get(role, 0) + 1
    spend: dict[str, Spend] = {role: Spend() for role in turns}
    calls: dict[str, int] = dict.fromkeys(turns, 0)
    for e in events:
        if not isinstance(e.payload, BudgetCharged):
            continue
        owner = next((r for lo, hi, r in ranges if lo <= e.key.step < hi), None)
        if owner is None:
            continue
        spend[owner] = spend[owner] + charge_spend(e.payload)
        calls[owner] += e.payload.source == "model"
    return {
        r: RoleCost(turns=turns[r], spend=spend[r], model_calls=calls[r]) for r in sorted(turns)
    }
