"""Guardrails: input and output filters declared per agent (pure decisions).

An agent's ``guardrails:`` block holds an ``input`` filter (checked on the goal before the
first model call: deny terms and patterns, an allow list of topics, a size limit), an
``output`` filter (checked on the final answer: deny terms and patterns, a size limit, PII
found by tether's redactor, which blocks or redacts) and ``tools``, an allow list of the
tools the model may call. Each check gives a ``Check`` (rule id, verdict, a detail that
never quotes the text); ``tether.governance.guard_hooks`` journals them as
``guardrail_verdict`` events and acts on them. Blocking is the default: a blocked input fails
the run before any model call (so before any tool), a blocked answer fails the run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tether.redact import Redactor

Verdict = Literal["pass", "block", "redact"]
_MARKER = re.compile(r"\[REDACTED:([a-z0-9_]+)\]")
_PII_KINDS = frozenset({"email", "phone", "credit_card", "iban", "ssn", "ipv4", "ipv6"})


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deny_terms: list[str] = Field(default_factory=list, description="words or phrases refused")
    deny_patterns: list[str] = Field(default_factory=list, description="regular expressions")
    max_chars: int | None = Field(default=None, ge=1, description="longest text accepted")

    @field_validator("deny_patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for n, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {n} is not a valid regular expression: {exc}") from exc
        return patterns


class InputGuardrails(_Filter):
    topics: dict[str, list[str]] = Field(
        default_factory=dict,
        description="allowed topics: name -> keywords; the input must mention one",
    )


class OutputGuardrails(_Filter):
    pii: Literal["allow", "block", "redact"] = Field(
        default="allow", description="personal data in the answer: allow, block or redact"
    )


class Guardrails(BaseModel):
    """The ``guardrails:`` block of an agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: InputGuardrails = Field(default_factory=InputGuardrails)
    output: OutputGuardrails = Field(default_factory=OutputGuardrails)
    tools: list[str] | None = Field(
        default=None, description="allow list of tools the model may call; None: all"
    )


@dataclass(frozen=True, kw_only=True)
class Check:
    """One rule's verdict; ``detail`` says why without quoting the text."""

    rule: str
    verdict: Verdict
    detail: str = ""

    @property
    def blocks(self) -> bool:
        return self.verdict == "block"


def check_input(g: InputGuardrails, text: str) -> list[Check]:
    """The verdict of every configured input rule on ``text`` (the goal)."""
    checks = _filter_checks("input", g, text)
    if g.topics:
        checks.append(_topics(g.topics, text))
    return checks


def check_output(g: OutputGuardrails, text: str, redactor: Redactor) -> tuple[list[Check], str]:
    """The verdicts on the final answer, and the answer as it may be shown (redacted)."""
    checks = _filter_checks("output", g, text)
    if g.pii == "allow":
        return checks, text
    masked = redactor.redact_text(text)
    # markers already in the text count: with redaction on, the run state holds them
    found = Counter(k for k in _MARKER.findall(masked) if k in _PII_KINDS)
    if not found:
        checks.append(Check(rule="output.pii", verdict="pass"))
        return checks, text
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(found.items())) + " found"
    checks.append(
        Check(rule="output.pii", verdict="block" if g.pii == "block" else "redact", detail=detail)
    )
    return checks, masked if g.pii == "redact" else text


def check_tool(g: Guardrails, name: str) -> Check | None:
    """The allow list's verdict on a call to ``name`` (None: no allow list)."""
    if g.tools is None:
        return None
    if name in g.tools:
        return Check(rule="tools.allow", verdict="pass")
    return Check(rule="tools.allow", verdict="block", detail=f"tool {name!r} is not allowed")


def first_block(checks: Sequence[Check]) -> Check | None:
    return next((c for c in checks if c.blocks), None)


def _filter_checks(stage: str, g: _Filter, text: str) -> list[Check]:
    checks: list[Check] = []
    if g.max_chars is not None:
        over = len(text) > g.max_chars
        checks.append(
            Check(
                rule=f"{stage}.max_chars",
                verdict="block" if over else "pass",
                detail=f"{len(text)} characters, limit {g.max_chars}" if over else "",
            )
        )
    if g.deny_terms:
        folded = text.casefold()
        hit = next((n for n, t in enumerate(g.deny_terms) if _has_term(folded, t.casefold())), None)
        checks.append(_hit(f"{stage}.deny_terms", hit, "deny term"))
    if g.deny_patterns:
        hit = next((n for n, p in enumerate(g.deny_patterns) if re.search(p, text, re.I)), None)
        checks.append(_hit(f"{stage}.deny_patterns", hit, "deny pattern"))
    return checks


def _hit(rule: str, hit: int | None, what: str) -> Check:
    if hit is None:
        return Check(rule=rule, verdict="pass")
    return Check(rule=rule, verdict="block", detail=f"matched {what} {hit}")


def _has_term(folded: str, term: str) -> bool:
    return bool(term) and re.search(r"(?<!\w)" + re.escape(term) + r"(?!\w)", folded) is not None


def _topics(topics: dict[str, list[str]], text: str) -> Check:
    folded = text.casefold()
    for name in sorted(topics):
        if any(_has_term(folded, k.casefold()) for k in topics[name]):
            return Check(rule="input.topics", verdict="pass", detail=f"topic {name!r}")
    return Check(
        rule="input.topics",
        verdict="block",
        detail=f"no allowed topic ({', '.join(sorted(topics))})",
    )
