"""Checks: each looks at an ``Observation`` and returns a ``Verdict`` (pass or fail, and why).

``Check`` is the protocol every check follows (the red-team and chaos suites add their own):
a ``name`` and an async ``run``. Code checks are pure; the judge (``tether.evals.judge``) runs
a model. ``checks_for`` turns a case's ``expect`` and ``budget`` into the list of checks.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jsonschema

from tether.errors import ConfigError
from tether.evals.dataset import CallSpec, Case, CaseBudget, Number, Trajectory
from tether.evals.observe import CallRecord, Observation

NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


@dataclass(frozen=True, kw_only=True)
class Verdict:
    check: str
    passed: bool
    detail: str = ""
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "passed": self.passed, "detail": self.detail}
        if self.score is not None:
            out["score"] = self.score
        return out


class Check(Protocol):
    """Decides one thing about a run."""

    @property
    def name(self) -> str: ...

    async def run(self, obs: Observation) -> Verdict: ...


@dataclass(frozen=True, kw_only=True)
class Pure:
    """A check from a pure function ``(Observation) -> (passed, detail)``."""

    name: str
    fn: Callable[[Observation], tuple[bool, str]]

    async def run(self, obs: Observation) -> Verdict:
        passed, detail = self.fn(obs)
        return Verdict(check=self.name, passed=passed, detail=detail)


# -- output checks ---------------------------------------------------------------------------


def _text(obs: Observation) -> str:
    return (obs.output or "").strip()


def status_is(expected: str) -> Check:
    return Pure(
        name="status",
        fn=lambda o: (o.status == expected, f"status {o.status!r}, expected {expected!r}"),
    )


def exact(expected: str) -> Check:
    return Pure(name="exact", fn=lambda o: (_text(o) == expected.strip(), _short(o)))


def contains(needles: Sequence[str], *, negate: bool = False) -> Check:
    def fn(o: Observation) -> tuple[bool, str]:
        text = _text(o).casefold()
        if negate:
            bad = [n for n in needles if n.casefold() in text]
            return not bad, f"contains {bad!r}" if bad else "none present"
        missing = [n for n in needles if n.casefold() not in text]
        return not missing, f"missing {missing!r} in {_short(o)}" if missing else "all present"

    return Pure(name="not_contains" if negate else "contains", fn=fn)


def regex(pattern: str) -> Check:
    compiled = re.compile(pattern, re.S)
    return Pure(
        name="regex",
        fn=lambda o: (compiled.search(_text(o)) is not None, f"/{pattern}/ vs {_short(o)}"),
    )


def json_output(schema: dict[str, Any]) -> Check:
    def fn(o: Observation) -> tuple[bool, str]:
        try:
            value = json.loads(_text(o))
        except ValueError:
            return False, f"output is not JSON: {_short(o)}"
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=str)
        return (not errors, errors[0].message if errors else "valid")

    return Pure(name="json_schema", fn=fn)


def numeric(spec: Number) -> Check:
    def fn(o: Observation) -> tuple[bool, str]:
        found = [float(m.replace(",", "")) for m in NUMBER.findall(_text(o))]
        close = [
            x for x in found if abs(x - spec.value) <= max(spec.tol, spec.rel * abs(spec.value))
        ]
        return bool(close), f"numbers {found[:5]} vs {spec.value}"

    return Pure(name="number", fn=fn)


# -- trajectory --------------------------------------------------------------------------------


def match_value(expected: Any, actual: Any) -> bool:
    """One argument matcher (see ``tether.evals.dataset``) against a value."""
    if isinstance(expected, dict) and expected and all(k.startswith("$") for k in expected):
        if "$any" in expected:
            return True
        if "$regex" in expected:
            return isinstance(actual, str) and re.search(expected["$regex"], actual) is not None
        if "$contains" in expected:
            return str(expected["$contains"]).casefold() in json.dumps(actual).casefold()
        if "$approx" in expected:
            tol = float(expected.get("$tol", 1e-6))
            return isinstance(actual, int | float) and abs(actual - expected["$approx"]) <= tol
        raise ConfigError(f"unknown argument matcher {sorted(expected)!r}")
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and match_value(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.strip() == actual.strip()
    return bool(expected == actual)


def call_matches(spec: CallSpec, call: CallRecord) -> bool:
    return spec.tool == call.tool and match_value(spec.args, call.arguments)


def trajectory_problem(spec: Trajectory, calls: Sequence[CallRecord]) -> str | None:
    """Why ``calls`` do not follow ``spec``, or None."""
    actual = [c for c in calls if c.ok] if spec.only_ok else list(calls)
    forbidden = [c.tool for c in calls if c.tool in spec.forbid]
    if forbidden:
        return f"called forbidden tool {forbidden[0]!r}"
    if spec.order in ("exact", "any_order") and len(actual) != len(spec.calls):
        return f"{len(actual)} calls, expected {len(spec.calls)}"
    if spec.order == "exact":
        for n, (want, got) in enumerate(zip(spec.calls, actual, strict=True)):
            if not call_matches(want, got):
                return f"call {n + 1}: {got.tool}({_args(got)}), expected {want.tool}({want.args})"
        return None
    if spec.order == "in_order":
        rest = iter(actual)
        for want in spec.calls:
            if not any(call_matches(want, got) for got in rest):
                return f"no {want.tool}({want.args}) in order"
        return None
    left = list(actual)
    for want in spec.calls:
        hit = next((c for c in left if call_matches(want, c)), None)
        if hit is None:
            return f"no call {want.tool}({want.args})"
        left.remove(hit)
    return None


def trajectory(spec: Trajectory) -> Check:
    def fn(o: Observation) -> tuple[bool, str]:
        problem = trajectory_problem(spec, o.calls)
        return problem is None, problem or "matches"

    return Pure(name="trajectory", fn=fn)


# -- bounds, retrieval, groundedness, predicates ------------------------------------------------


def bounds(budget: CaseBudget) -> list[Check]:
    """Cost, latency, step, tool-call and token bounds (one check each that is set)."""
    limits: list[tuple[str, float | None, Callable[[Observation], float]]] = [
        ("max_steps", budget.max_steps, lambda o: o.steps),
        ("max_tool_calls", budget.max_tool_calls, lambda o: o.tool_calls),
        ("max_tokens", budget.max_tokens, lambda o: o.tokens),
        (
            "max_cost",
            None if budget.max_cost is None else float(budget.max_cost),
            lambda o: float(o.cost),
        ),
        ("max_latency_ms", budget.max_latency_ms, lambda o: o.latency_ms),
    ]
    return [_bound(name, limit, get) for name, limit, get in limits if limit is not None]


def _bound(name: str, limit: float, get: Callable[[Observation], float]) -> Check:
    return Pure(name=name, fn=lambda o: (get(o) <= limit, f"{get(o):g} of {limit:g}"))


def retrieved_texts(obs: Observation) -> list[str]:
    """The texts of every retrieval result in the run (or of a retrieval component eval)."""
    if isinstance(obs.value, list):
        return [str(v) for v in obs.value]
    texts: list[str] = []
    for c in obs.ok_calls:
        if (c.origin or "").startswith("retrieval:") and isinstance(c.result, dict):
            texts += [str(r.get("text", "")) for r in c.result.get("results", [])]
    return texts


def retrieval(needles: Sequence[str]) -> Check:
    def fn(o: Observation) -> tuple[bool, str]:
        texts = " ".join(" ".join(retrieved_texts(o)).split()).casefold()
        missing = [n for n in needles if " ".join(n.split()).casefold() not in texts]
        return not missing, f"not retrieved: {missing!r}" if missing else "all retrieved"

    return Pure(name="retrieval", fn=fn)


def grounded() -> Check:
    """Every number and quoted phrase of the answer appears in a tool result (or the goal)."""

    def fn(o: Observation) -> tuple[bool, str]:
        support = (o.results_text() + "\n" + o.goal).replace(",", "")
        claims = [m.replace(",", "") for m in NUMBER.findall(_text(o))]
        claims += re.findall(r"\"([^\"]{3,80})\"", _text(o))
        unsupported = [c for c in claims if c not in support]
        return not unsupported, f"unsupported: {unsupported[:5]!r}" if unsupported else "grounded"

    return Pure(name="grounded", fn=fn)


def predicate(ref: str) -> Check:
    """A custom check ``module:function`` taking the ``Observation``; it returns a bool or
    ``(bool, detail)``."""
    module, _, attr = ref.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"predicate {ref!r} cannot be imported ({exc}); use 'module:function'"
        ) from exc

    def call(o: Observation) -> tuple[bool, str]:
        out = fn(o)
        if isinstance(out, tuple):
            return bool(out[0]), str(out[1])
        return bool(out), ref

    return Pure(name="predicate", fn=call)


def checks_for(case: Case, judge: Callable[[Any], Check] | None = None) -> list[Check]:
    """The checks a case's ``expect`` and ``budget`` ask for, in a fixed order."""
    e = case.expect
    out: list[Check] = []
    if e.status is not None and case.component == "agent":
        out.append(status_is(e.status))
    if e.output is not None:
        out.append(exact(e.output))
    if e.contains:
        out.append(contains(e.contains))
    if e.not_contains:
        out.append(contains(e.not_contains, negate=True))
    if e.regex is not None:
        out.append(regex(e.regex))
    if e.json_schema is not None:
        out.append(json_output(e.json_schema))
    if e.number is not None:
        out.append(numeric(e.number))
    if e.trajectory is not None:
        out.append(trajectory(e.trajectory))
    if e.retrieved:
        out.append(retrieval(e.retrieved))
    if e.grounded:
        out.append(grounded())
    if e.predicate is not None:
        out.append(predicate(e.predicate))
    out += bounds(case.budget)
    if e.judge is not None:
        if judge is None:
            raise ConfigError(f"case {case.id!r} has a judge rubric but no judge is configured")
        out.append(judge(e.judge))
    return out


def _short(o: Observation, n: int = 80) -> str:
    text = _text(o)
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def _args(c: CallRecord) -> str:
    return json.dumps(c.arguments, ensure_ascii=False)[:60]
