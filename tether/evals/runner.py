"""The eval runner: cases × attempts, concurrency-limited and seeded, scored by checks.

The pieces other suites plug into:

- a ``Target`` observes one attempt of one case (``AgentTarget`` runs an agent through the
  harness; ``tether.evals.components`` has targets for a single tool, retrieval and the judge;
  the red-team and chaos suites bring their own);
- ``checks`` gives a case's checks (default: ``tether.evals.checks.checks_for``);
- ``run_cases`` runs every attempt and returns ``CaseResult`` per case, each failure charged to
  a component (``tether.evals.analysis``); ``EvalResult`` adds pass@k, pass^k and the
  per-tag and per-component tables the reports print.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import comb
from pathlib import Path
from typing import Any, Protocol

from tether.agent.spec import Agent
from tether.evals.analysis import Attribution, ComponentFailures, attribute, group
from tether.evals.checks import Check, Verdict, checks_for
from tether.evals.dataset import Case, Dataset
from tether.evals.harness import Harness
from tether.evals.observe import Observation
from tether.testing.scripted import ScriptedModel


class Target(Protocol):
    """Observes one attempt of one case (runs an agent, a tool, a search...)."""

    async def observe(self, case: Case, attempt: int, seed: int) -> Observation: ...


CheckFactory = Callable[[Case], Sequence[Check]]


@dataclass(frozen=True, kw_only=True)
class AttemptResult:
    case_id: str
    attempt: int
    seed: int
    passed: bool
    verdicts: tuple[Verdict, ...]
    obs: Observation
    failure: Attribution | None = None
    error: str | None = None  # the harness could not observe the attempt

    def to_json(self) -> dict[str, Any]:
        o = self.obs
        return {
            "attempt": self.attempt,
            "seed": self.seed,
            "passed": self.passed,
            "run_id": o.run_id,
            "status": o.status,
            "output": o.output,
            "steps": o.steps,
            "tool_calls": o.tool_calls,
            "tokens": o.tokens,
            "cost": str(o.cost),
            "latency_ms": round(o.latency_ms, 3),
            "calls": [c.to_json() for c in o.calls],
            "checks": [v.to_json() for v in self.verdicts],
            "failure": None
            if self.failure is None
            else {"component": self.failure.component, "why": self.failure.why},
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    case: Case
    attempts: tuple[AttemptResult, ...]

    @property
    def passes(self) -> int:
        return sum(a.passed for a in self.attempts)

    def pass_at(self, k: int) -> float:
        """Chance that at least one of k attempts passes (unbiased estimator)."""
        n, c = len(self.attempts), self.passes
        return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)

    def pass_all(self, k: int) -> float:
        """pass^k: chance that k attempts all pass (unbiased estimator)."""
        n, c = len(self.attempts), self.passes
        return comb(c, k) / comb(n, k) if k <= n else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "component": self.case.component,
            "tags": self.case.tags,
            "passes": self.passes,
            "attempts": [a.to_json() for a in self.attempts],
        }


def attempt_seed(seed: int, case_id: str, attempt: int) -> int:
    """A stable seed per (run seed, case, attempt)."""
    digest = hashlib.sha256(f"{seed}\x1f{case_id}\x1f{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


async def score(case: Case, obs: Observation, checks: Sequence[Check]) -> tuple[Verdict, ...]:
    verdicts = []
    for check in checks:
        try:
            verdicts.append(await check.run(obs))
        except Exception as exc:  # a broken check fails its case, not the eval
            verdicts.append(Verdict(check=check.name, passed=False, detail=f"check error: {exc}"))
    return tuple(verdicts)


async def run_attempt(
    case: Case, attempt: int, seed: int, target: Target, checks: CheckFactory
) -> AttemptResult:
    s = attempt_seed(seed, case.id, attempt)
    try:
        obs = await target.observe(case, attempt, s)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        return AttemptResult(
            case_id=case.id,
            attempt=attempt,
            seed=s,
            passed=False,
            verdicts=(Verdict(check="observe", passed=False, detail=why),),
            obs=Observation(reason=why),
            failure=Attribution(component="planner", why=f"harness error: {why}"),
            error=why,
        )
    verdicts = await score(case, obs, checks(case))
    passed = all(v.passed for v in verdicts)
    failure = None if passed else attribute(case, obs, verdicts)
    return AttemptResult(
        case_id=case.id,
        attempt=attempt,
        seed=s,
        passed=passed,
        verdicts=verdicts,
        obs=obs,
        failure=failure,
    )


async def run_cases(
    cases: Sequence[Case],
    target: Target,
    *,
    checks: CheckFactory = checks_for,
    repeat: int = 1,
    concurrency: int = 4,
    seed: int = 0,
    on_done: Callable[[AttemptResult], None] | None = None,
) -> list[CaseResult]:
    """Every case ``repeat`` times, at most ``concurrency`` attempts at once."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(case: Case, attempt: int) -> AttemptResult:
        async with gate:
            result = await run_attempt(case, attempt, seed, target, checks)
        if on_done is not None:
            on_done(result)
        return result

    jobs = [one(c, a) for c in cases for a in range(repeat)]
    results = await asyncio.gather(*jobs)
    by_case: dict[str, list[AttemptResult]] = {}
    for r in results:
        by_case.setdefault(r.case_id, []).append(r)
    return [CaseResult(case=c, attempts=tuple(by_case[c.id])) for c in cases]


@dataclass(kw_only=True)
class AgentTarget:
    """Runs a case's agent on its input: with its scripted turns when it has them, else on
    ``model`` (or the agent's own)."""

    harness: Harness
    agents: Callable[[Case], Agent]
    model: str | None = None
    workspace: Path | None = None
    scripted: bool = True  # False: ignore the cases' scripts and run ``model``

    async def observe(self, case: Case, attempt: int, seed: int) -> Observation:
        agent = self.agents(case)
        ws = self.harness.workspace(f"{case.id}-{attempt}", self.workspace, case.files)
        model: ScriptedModel | str | None = self.model
        seeded: int | None = seed
        if case.script is not None and self.scripted:
            model, seeded = ScriptedModel(steps=case.script_steps(), model_id="scripted"), None
        if case.user is not None:
            from tether.evals.simulate import converse

            return await converse(
                self.harness, agent, case.input, case.user, model=model, workspace=ws, seed=seeded
            )
        return await self.harness.run_agent(
            agent, case.input, model=model, workspace=ws, seed=seeded
        )


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    """A whole eval run: its cases' results and the numbers reports and gates use."""

    dataset: str
    agent: str
    model: str
    repeat: int
    seed: int
    cases: tuple[CaseResult, ...]
    wall_s: float = 0.0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def attempts(self) -> list[AttemptResult]:
        return [a for c in self.cases for a in c.attempts]

    @property
    def pass_rate(self) -> float:
        attempts = self.attempts
        return sum(a.passed for a in attempts) / len(attempts) if attempts else 0.0

    def pass_at_k(self, k: int | None = None) -> float:
        k = k or self.repeat
        return _mean([c.pass_at(k) for c in self.cases])

    def pass_hat_k(self, k: int | None = None) -> float:
        k = k or self.repeat
        return _mean([c.pass_all(k) for c in self.cases])

    def by_tag(self) -> dict[str, tuple[int, int]]:
        """tag -> (passed attempts, attempts)."""
        out: dict[str, tuple[int, int]] = {}
        for c in self.cases:
            for tag in c.case.tags or ["untagged"]:
                p, n = out.get(tag, (0, 0))
                out[tag] = (p + c.passes, n + len(c.attempts))
        return dict(sorted(out.items()))

    def failures(self) -> list[ComponentFailures]:
        return group(
            [
                (a.case_id, a.obs.run_id, a.failure)
                for a in self.attempts
                if not a.passed and a.failure is not None
            ]
        )

    def to_json(self) -> dict[str, Any]:
        attempts = self.attempts
        return {
            "dataset": self.dataset,
            "agent": self.agent,
            "model": self.model,
            "repeat": self.repeat,
            "seed": self.seed,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "wall_s": round(self.wall_s, 3),
            "cases": len(self.cases),
            "attempts": len(attempts),
            "passed": sum(a.passed for a in attempts),
            "pass_rate": round(self.pass_rate, 4),
            "pass_at_k": round(self.pass_at_k(), 4),
            "pass_hat_k": round(self.pass_hat_k(), 4),
            "by_tag": {t: {"passed": p, "attempts": n} for t, (p, n) in self.by_tag().items()},
            "failures": [f.to_json() for f in self.failures()],
            "results": [c.to_json() for c in self.cases],
        }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


async def evaluate(
    dataset: Dataset,
    target: Target,
    *,
    checks: CheckFactory = checks_for,
    repeat: int = 1,
    concurrency: int = 4,
    seed: int = 0,
    agent: str = "",
    model: str = "",
    on_done: Callable[[AttemptResult], None] | None = None,
) -> EvalResult:
    """Run ``dataset`` against ``target`` and gather the result."""
    started = time.perf_counter()
    results = await run_cases(
        dataset.cases,
        target,
        checks=checks,
        repeat=repeat,
        concurrency=concurrency,
        seed=seed,
        on_done=on_done,
    )
    return EvalResult(
        dataset=dataset.name,
        agent=agent,
        model=model,
        repeat=repeat,
        seed=seed,
        cases=tuple(results),
        wall_s=time.perf_counter() - started,
    )
