"""The arbiter's decisions, pure: budgets per role and in total, loop stops, turn-taking,
conflicts. The team run asks before each turn (and each handoff) and journals every decision
that changes the course of the run as an ``arbiter_decision`` event.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from tether.governance.budget import KINDS, MICROS, Budget, Spend
from tether.team.spec import ArbiterSpec, ConflictRule
from tether.types import RunStatus


@dataclass(frozen=True, kw_only=True)
class Said:
    """One finished turn, as the arbiter sees it."""

    role: str
    text: str
    status: RunStatus = RunStatus.SUCCEEDED


@dataclass(frozen=True, kw_only=True)
class Decision:
    decision: Literal["continue", "stop", "refuse", "resolve", "speaker"]
    rule: str
    reason: str
    role: str | None = None
    status: RunStatus | None = None


def allowance(
    total: Budget, role: Budget, team_spent: Spend, role_spent: Spend, role_name: str
) -> Budget | Decision:
    """What a role may spend in its next turn: the tighter of what is left of the team's
    budget and of its own; a ``stop`` decision when tokens or money are used up. Wall time is
    measured from the run's start, so its limit passes through unchanged."""
    rest: dict[str, int | float | None] = {}
    for kind in KINDS:
        found: list[int | float] = []
        for scope, budget, spent in (("team", total, team_spent), (role_name, role, role_spent)):
            limit = budget.limit(kind)
            if limit is None:
                continue
            left = limit if kind == "wall_s" else limit - spent.amount(kind)
            if left <= 0 and kind in ("tokens", "money"):
                return Decision(
                    decision="stop",
                    rule="budget",
                    reason=f"{_scope(scope)} {kind} budget is used up "
                    f"({spent.amount(kind)} of {limit})",
                    role=role_name,
                    status=RunStatus.BUDGET_EXCEEDED,
                )
            found.append(max(0, left))
        rest[kind] = min(found) if found else None
    tokens, calls, money = rest["tokens"], rest["tool_calls"], rest["money"]
    return Budget(
        tokens=None if tokens is None else int(tokens),
        tool_calls=None if calls is None else int(calls),
        wall_s=rest["wall_s"],
        money=None if money is None else Decimal(int(money)) / MICROS,
    )


def share(allowed: Budget, n: int) -> Budget:
    """One of ``n`` turns that run at once: an equal part of what is left, so together they
    cannot spend more than the team has."""
    if n <= 1:
        return allowed
    return Budget(
        tokens=None if allowed.tokens is None else max(1, allowed.tokens // n),
        tool_calls=None if allowed.tool_calls is None else allowed.tool_calls // n,
        money=None if allowed.money is None else allowed.money / n,
        wall_s=allowed.wall_s,
    )


def _scope(name: str) -> str:
    return "the team's" if name == "team" else f"role {name!r}'s"


def before_turn(rules: ArbiterSpec, turns: int, role: str) -> Decision | None:
    """Stop before a turn that would exceed ``max_turns``."""
    if turns >= rules.max_turns:
        return Decision(
            decision="stop",
            rule="max_turns",
            reason=f"the team reached max_turns={rules.max_turns} before {role!r} could speak",
            role=role,
            status=RunStatus.MAX_STEPS,
        )
    return None


def normalized(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: what repetition compares."""
    words: list[str] = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return " ".join(words)


def after_turn(rules: ArbiterSpec, said: Sequence[Said]) -> Decision | None:
    """Loop stops after a turn: a role repeating itself, or nothing new for a while."""
    if not said:
        return None
    last = said[-1]
    seen = Counter(normalized(s.text) for s in said[:-1] if s.role == last.role)
    if normalized(last.text) and seen[normalized(last.text)] >= rules.max_repeats:
        return Decision(
            decision="stop",
            rule="repetition",
            reason=f"role {last.role!r} repeated what it said before "
            f"({seen[normalized(last.text)] + 1} times; max_repeats={rules.max_repeats})",
            role=last.role,
            status=RunStatus.NO_PROGRESS,
        )
    window = said[-rules.no_progress_turns :]
    if len(window) == rules.no_progress_turns and not any(
        _new_words(s, said[: len(said) - len(window) + i]) for i, s in enumerate(window)
    ):
        return Decision(
            decision="stop",
            rule="no_progress",
            reason=f"{rules.no_progress_turns} turns in a row added nothing new",
            role=last.role,
            status=RunStatus.NO_PROGRESS,
        )
    return None


def _new_words(turn: Said, before: Sequence[Said]) -> bool:
    known = {w for s in before for w in normalized(s.text).split()}
    return any(w not in known for w in normalized(turn.text).split())


def refuse_handoff(
    rules: ArbiterSpec, turns: int, handed: Sequence[tuple[str, str]], role: str, task: str
) -> Decision | None:
    """A handoff the arbiter refuses: over ``max_turns``, or the same task to the same role
    again (a delegation loop). The manager gets the reason as the tool's error."""
    if turns >= rules.max_turns:
        return Decision(
            decision="refuse",
            rule="max_turns",
            reason=f"the team reached max_turns={rules.max_turns}; answer with what you have",
            role=role,
        )
    again = sum(1 for r, t in handed if r == role and normalized(t) == normalized(task))
    if again >= rules.max_repeats:
        return Decision(
            decision="refuse",
            rule="repetition",
            reason=f"{role!r} already got this task {again} time(s); use its answer or "
            "answer yourself",
            role=role,
        )
    return None


def next_speaker(
    order: Sequence[str], selector: str, said: Sequence[Said], roles: Sequence[str]
) -> str:
    """Who speaks next: by declared order (round robin), or, with ``mention``, the role the
    last message names as ``@role`` (else the next in order)."""
    if selector == "mention" and said:
        mentioned: list[str] = re.findall(r"@([A-Za-z][\w-]*)", said[-1].text)
        for name in mentioned:
            if name in roles and name != said[-1].role:
                return name
    if not said:
        return order[0]
    last = said[-1].role
    i = order.index(last) if last in order else -1
    return order[(i + 1) % len(order)]


def terminal(text: str, until: str | None) -> bool:
    return until is not None and until.lower() in text.lower()


def resolve(
    rule: ConflictRule, proposals: Sequence[Said], priority: Sequence[str]
) -> tuple[Said, str]:
    """Pick one of several proposed answers by the declared rule; says why."""
    if len(proposals) == 1:
        return proposals[0], "a single proposal"
    if rule == "first":
        return proposals[0], "the first proposal wins (conflict: first)"
    if rule == "majority":
        counts = Counter(normalized(p.text) for p in proposals)
        best, votes = counts.most_common(1)[0]
        chosen = next(p for p in proposals if normalized(p.text) == best)
        return chosen, f"{votes} of {len(proposals)} proposals agree (conflict: majority)"
    if rule == "priority":
        ranked = sorted(
            proposals,
            key=lambda p: priority.index(p.role) if p.role in priority else len(priority),
        )
        return ranked[0], f"role {ranked[0].role!r} ranks highest (conflict: priority)"
    return proposals[-1], f"the latest proposal wins (conflict: {rule})"
