"""Error analysis: the component where a failed run went wrong, read from its journal (pure).

``attribute`` looks for the first cause, in this order: a policy or guardrail block (or a
pause for approval), a budget or limit stop, a tool that failed and was not retried into
success, a wrong tool (unknown name, or another tool where the trajectory expected one),
bad arguments (rejected by validation and not corrected, or the right tool with arguments
that do not match), a retrieval miss, the planner (calls missing, extra or out of order; a
loop; no answer; a model error), and last the final synthesis (the calls were right but the
answer fails its checks). ``group`` turns attributed failures into the table a team reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tether.evals.checks import Verdict, call_matches, retrieved_texts, trajectory_problem
from tether.evals.dataset import Case
from tether.evals.observe import CallRecord, Observation
from tether.events import ApprovalRequested, GuardrailVerdict, PolicyDecided

ComponentName = Literal[
    "policy_block",
    "budget",
    "tool_error",
    "wrong_tool",
    "bad_arguments",
    "retrieval_miss",
    "planner",
    "final_synthesis",
    "judge",
]
COMPONENTS: tuple[ComponentName, ...] = (
    "policy_block",
    "budget",
    "tool_error",
    "wrong_tool",
    "bad_arguments",
    "retrieval_miss",
    "planner",
    "final_synthesis",
    "judge",
)
_BLOCK_CODES = {"policy_denied", "approval_denied", "guardrail_blocked", "tool_killed"}
_ARG_CODES = {"invalid_arguments"}
_BOUNDS = {"max_steps", "max_tool_calls", "max_tokens", "max_cost", "max_latency_ms"}
_OUTPUT_CHECKS = {"exact", "contains", "not_contains", "regex", "json_schema", "number", "grounded"}


@dataclass(frozen=True, kw_only=True)
class Attribution:
    component: ComponentName
    why: str


def attribute(case: Case, obs: Observation, verdicts: Sequence[Verdict]) -> Attribution:
    """The component a failed run is charged to."""
    failed = {v.check for v in verdicts if not v.passed}
    for rule in _RULES:
        found = rule(case, obs, failed)
        if found is not None:
            return found
    if failed & _OUTPUT_CHECKS or "judge" in failed:
        return Attribution(component="final_synthesis", why=f"answer fails {sorted(failed)}")
    return Attribution(component="planner", why=f"failed {sorted(failed)}: {obs.reason or ''}")


def _policy(case: Case, obs: Observation, failed: set[str]) -> Attribution | None:
    for e in obs.events:
        p = e.payload
        if isinstance(p, PolicyDecided) and p.outcome == "deny":
            return Attribution(component="policy_block", why=f"policy denied {p.resource}")
        if isinstance(p, GuardrailVerdict) and p.verdict == "block":
            return Attribution(component="policy_block", why=f"guardrail {p.rule} blocked")
        if isinstance(p, ApprovalRequested) and obs.status == "paused":
            return Attribution(component="policy_block", why=f"waits for approval of {p.tool}")
    blocked = [c for c in obs.calls if c.error_code in _BLOCK_CODES]
    if blocked:
        return Attribution(
            component="policy_block", why=f"{blocked[0].tool}: {blocked[0].error_code}"
        )
    return None


def _budget(case: Case, obs: Observation, failed: set[str]) -> Attribution | None:
    if obs.status == "budget_exceeded":
        return Attribution(component="budget", why=obs.reason or "budget exceeded")
    over = sorted(failed & _BOUNDS)
    if over:
        return Attribution(component="budget", why=f"over {', '.join(over)}")
    return None


def _unrecovered(calls: Sequence[CallRecord], codes: set[str] | None) -> CallRecord | None:
    """The first failed call (with one of ``codes``; None: an execution error) that no later
    successful call of the same tool made good."""
    for n, c in enumerate(calls):
        if c.ok or c.error_code in _BLOCK_CODES:
            continue
        hit = (
            c.error_code in codes
            if codes is not None
            else c.validated and c.error_code not in (_ARG_CODES | {"unknown_tool"})
        )
        if hit and not any(later.ok and later.tool == c.tool for later in calls[n + 1 :]):
            return c
    return None


def _tool_error(case: Case, obs: Observation, failed: set[str]) -> Attribution | None:
    bad = _unrecovered(obs.calls, None)
    if bad is not None:
        return Attribution(component="tool_error", why=f"{bad.tool} failed: {bad.error_code}")
    return None


def _wrong_tool(case: Case, obs: Observation, failed: set[str]) -> Attribution | None:
    unknown = _unrecovered(obs.calls, {"unknown_tool"})
    if unknown is not None:
        return Attribution(component="wrong_tool", why=f"no tool named {unknown.tool!r}")
    spec = case.expect.trajectory
    if spec is None or "trajectory" not in failed:
        return None
    forbidden = [c.tool for c in obs.calls if c.tool in spec.forbid]
    if forbidden:
        return Attribution(component="wrong_tool", why=f"called forbidden {forbidden[0]!r}")
    expected = {c.tool for c in spec.calls}
    extra = [c for c in obs.ok_calls if c.tool not in expected]
    missing = [w for w in spec.calls if not any(c.tool == w.tool for c in obs.ok_calls)]
    if extra and missing:
        return Attribution(
            component="wrong_tool", why=f"called {extra[0].tool!r} instead of {missing[0].tool!r}"
        )
    return None


def _bad_arguments(case: Case, obs: Observation, failed: set[str]) -> Attribution | None:
    rejected = _unrecovered(obs.calls, _ARG_CODES)
    if rejected is not None:
        return Attribution(component="bad_arguments", why=f"{rejected.tool}: invalid arguments")
    spec = case.expect.trajectory
    if spec is None or "trajectory" not in failed:
        return None
    for want in spec.calls:
        same_tool = [c for c in obs.ok_calls if c.tool == want.tool]
        if same_tool and not any(call_matches(want, c) for c in same_tool):
            return Attribution(
                component="bad_arguments",
                why=f"{want.tool} called with {same_tool[0].arguments}, expected {want.args}",
            )
    return None


def _retrieval(case: Case, obs: Observation, failed: set[str]) -> Attribution | None:
    if "retrieval" in failed:
        return Attribution(component="retrieval_miss", why="expected passages not retrieved")
    if case.expect.retrieved and not retrieved_texts(obs) and obs.status != "succeeded":
        return Attribution(component="retrieval_miss", why="nothing retrieved")
    return None


def _planner(case: Case, obs: Observation, failed: set[str]) -> Attribution | None:
    if obs.status in ("max_steps", "no_progress"):
        return Attribution(component="planner", why=obs.reason or obs.status)
    if obs.model_errors:
        return Attribution(component="planner", why=f"model error: {obs.model_errors[0]}")
    spec = case.expect.trajectory
    if spec is not None and "trajectory" in failed:
        return Attribution(
            component="planner", why=trajectory_problem(spec, obs.calls) or "trajectory"
        )
    if "status" in failed and obs.status != "succeeded":
        return Attribution(component="planner", why=obs.reason or obs.status)
    return None


def _judge(case: Case, obs: Observation, failed: set[str]) -> Attribution | None:
    if case.component == "judge":
        return Attribution(component="judge", why="the judge's verdict was wrong")
    return None


_RULES = (
    _judge,
    _policy,
    _budget,
    _tool_error,
    _wrong_tool,
    _bad_arguments,
    _retrieval,
    _planner,
)


@dataclass(kw_only=True)
class ComponentFailures:
    component: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)  # case, run, why

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "count": self.count, "examples": self.examples}


def group(
    failures: Sequence[tuple[str, str, Attribution]], examples: int = 3
) -> list[ComponentFailures]:
    """``(case_id, run_id, attribution)`` per failed attempt → counts per component, most
    first, with up to ``examples`` example runs each."""
    table: dict[str, ComponentFailures] = {}
    for case_id, run_id, a in failures:
        row = table.setdefault(a.component, ComponentFailures(component=a.component))
        row.count += 1
        if len(row.examples) < examples:
            row.examples.append({"case": case_id, "run_id": run_id, "why": a.why})
    order: dict[str, int] = {c: n for n, c in enumerate(COMPONENTS)}
    return sorted(table.values(), key=lambda r: (-r.count, order.get(r.component, 99)))
