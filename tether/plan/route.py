"""``mode: auto``: a cheap, rule-based router between the ReAct loop and the planner (pure).

A goal is *complex* when it has several parts that each need a tool ("read X, then compute
Y"), when it is long, or when it asks for work over many items ("for each", "compare"); complex
goals go to the planner (on ``planner_model`` when set), simple ones to the ReAct loop (on
``fast_model`` when set). The decision is journaled (``route_chosen``) so a resumed run takes
the same path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tether.agent.prompt import best_tool
from tether.plan.config import RouteConfig
from tether.tools import ToolContract, split_subgoals

_MANY = re.compile(
    r"\b(for each|for every|each of|all of the|compare|in parallel|step by step)\b", re.I
)


@dataclass(frozen=True, kw_only=True)
class Route:
    mode: str  # "react" | "plan"
    reason: str


def classify(goal: str, contracts: Sequence[ToolContract], config: RouteConfig | None) -> Route:
    cfg = config or RouteConfig()
    parts = [p for p in split_subgoals(goal) if best_tool(p, contracts) is not None]
    words = len(goal.split())
    if len(parts) >= cfg.plan_min_parts:
        return Route(mode="plan", reason=f"{len(parts)} parts that each need a tool")
    if words >= cfg.plan_min_words:
        return Route(mode="plan", reason=f"{words} words (plan_min_words={cfg.plan_min_words})")
    many = _MANY.search(goal)
    if many is not None:
        return Route(mode="plan", reason=f"work over many items ({many.group(0)!r})")
    return Route(mode="react", reason=f"{len(parts) or 1} part, {words} words: simple")
