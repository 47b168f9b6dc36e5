"""A team run as the CLI shows it: per-role cost lines and the team's events in the trace."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tether.events import ArbiterDecision, Event, Handoff, Payload, TeamTurn, TeamTurnFinished
from tether.team.costs import role_costs


def with_roles(costs: dict[str, Any], events: Iterable[Event]) -> dict[str, Any]:
    """A run's cost JSON with ``roles`` added for a team run."""
    roles = role_costs(events)
    return costs | {"roles": {r: c.to_json() for r, c in roles.items()}} if roles else costs


def role_lines(events: Iterable[Event]) -> list[str]:
    """``  role writer: 120 tokens, $0.001, 1 tool calls (2 turns)`` per role of a team run."""
    return [
        f"  role {r}: {c.spend.tokens} tokens, ${c.spend.money_micros / 1_000_000:g}, "
        f"{c.spend.tool_calls} tool calls ({c.turns} turns, {c.model_calls} model calls)"
        for r, c in role_costs(events).items()
    ]


def team_line(p: Payload) -> str | None:
    """The trace line of a team event, or None for other events."""
    if isinstance(p, TeamTurn):
        by = f", from {p.delegated_by}" if p.delegated_by else ""
        return f"── {p.role} (turn {p.turn + 1}{by})"
    if isinstance(p, TeamTurnFinished):
        metric = "" if p.success is None else f", success metric {'met' if p.success else 'missed'}"
        return f"   {p.role} turn {p.turn + 1} {p.status} ({p.tokens} tokens{metric})"
    if isinstance(p, Handoff):
        return f"   handoff {p.from_role} → {p.to_role}: {p.task[:100]}"
    if isinstance(p, ArbiterDecision):
        return f"   arbiter {p.decision} ({p.rule}): {p.reason}"
    return None
