"""The agent-file sections of plan, reflect and auto modes (validated on load).

``plan:`` caps the planner (plan length, revisions, self-consistency samples) and names its
``success_check``; ``critic:`` holds the rule checks per tool and the optional LLM rubric judge;
``reflect:`` names the external checker and the number of rounds; ``route:`` tunes ``mode: auto``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tether.errors import AgentSpecError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Section):
    """One rule-based check of a step's result.

    ``non_empty``: the result (or ``path`` in it) is not empty; ``schema``: it matches the JSON
    ``schema``; ``bounds``: the number at ``path`` lies in ``[min, max]``; ``predicate``: the
    function ``fn`` (``module:function``, called with the result) returns true.
    """

    check: Literal["non_empty", "schema", "bounds", "predicate"]
    path: str = Field(default="", description="dotted path into the result, e.g. 'rows.0'")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    min: float | None = None
    max: float | None = None
    fn: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")


class Judge(_Section):
    """An LLM rubric judge: binary criteria, JSON verdict, a confidence to route on."""

    criteria: list[str] = Field(min_length=1, max_length=12)
    model: str | None = Field(default=None, description="model id; default the agent's")
    review_below: float = Field(
        default=0.0, ge=0, le=1, description="confidence under this: needs_review"
    )


class CriticConfig(_Section):
    rules: dict[str, list[Rule]] = Field(
        default_factory=dict, description="per tool name ('*': every tool): checks"
    )
    judge: Judge | None = None


class PlanConfig(_Section):
    max_plan_steps: int = Field(default=8, ge=1, le=64, description="steps in one plan")
    max_revisions: int = Field(default=3, ge=0, le=32, description="re-plans after the first")
    samples: int = Field(default=1, ge=1, le=8, description="plan variants when unsure")
    sample_below: float = Field(
        default=0.5, ge=0, le=1, description="sample variants when confidence is under this"
    )
    success_check: str | None = Field(
        default=None,
        pattern=r"^[\w.]+:\w+$",
        description="module:function(goal, results) -> bool; default: every step passed",
    )


class ReflectConfig(_Section):
    checker: Literal["sandbox", "schema", "predicate"] = "sandbox"
    max_rounds: int = Field(default=3, ge=1, le=10)
    tests: str = Field(default="", max_length=20_000, description="code run after the draft")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    fn: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")


class RouteConfig(_Section):
    plan_min_parts: int = Field(default=2, ge=1, description="goal parts that make it complex")
    plan_min_words: int = Field(default=40, ge=1, description="goal words that make it complex")


def load_function(ref: str, where: str = "") -> Callable[..., Any]:
    """``module:function`` imported; an error naming the field when it is not there."""
    module, _, name = ref.partition(":")
    field = f"field {where!r}: " if where else ""
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise AgentSpecError(
            f"{field}cannot import {ref!r} ({exc}); check the module path"
        ) from exc
    if not callable(fn):
        raise AgentSpecError(f"{field}{ref!r} is not a function; name a function")
    return fn  # type: ignore[no-any-return]


def check_modes(
    source: str,
    tools: Sequence[str],
    plan: PlanConfig | None,
    critic: CriticConfig | None,
    reflect: ReflectConfig | None,
) -> None:
    """Fail on load, naming the file and field, for a function that does not import or a
    sandbox checker without its tool."""
    refs: list[tuple[str, str | None]] = [
        ("plan.success_check", plan.success_check if plan else None),
        ("reflect.fn", reflect.fn if reflect else None),
    ]
    for tool, rules in (critic.rules if critic else {}).items():
        refs += [(f"critic.rules.{tool}.{n}.fn", r.fn) for n, r in enumerate(rules)]
    for where, ref in refs:
        if ref is not None:
            try:
                load_function(ref, where)
            except AgentSpecError as exc:
                raise AgentSpecError(f"{source}: {exc}") from exc
    if reflect is not None and reflect.checker == "predicate" and reflect.fn is None:
        raise AgentSpecError(f"{source}: field 'reflect.fn': the predicate checker needs fn")
    if reflect is not None and reflect.checker == "sandbox" and "run_python_code" not in tools:
        raise AgentSpecError(
            f"{source}: field 'reflect.checker': 'sandbox' runs drafts with run_python_code; "
            "add it to the agent's tools"
        )
