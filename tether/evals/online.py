"""Online evaluation: a seeded sample of stored (production) runs scored after the fact by
the same checks as eval cases, from their journals.

Stored runs have no expected answer, so the default checks are the ones that need none: the
run succeeded, its answer is grounded in its tool results, and it has no ``check_violation``
(the per-run automatic checks); a rubric adds the judge. The error analysis charges each
failure to a component exactly as for eval cases.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tether.evals.analysis import Attribution, ComponentFailures, attribute, group
from tether.evals.checks import Check, Pure, Verdict, grounded, status_is
from tether.evals.dataset import Case
from tether.evals.observe import Observation, observe
from tether.evals.runner import score
from tether.events import CheckViolation
from tether.store import Store
from tether.types import RunStatus


def no_violations() -> Check:
    def fn(o: Observation) -> tuple[bool, str]:
        found = [e.payload.check for e in o.events if isinstance(e.payload, CheckViolation)]
        return not found, f"violations: {found}" if found else "none"

    return Pure(name="run_checks", fn=fn)


def default_checks() -> list[Check]:
    return [status_is("succeeded"), grounded(), no_violations()]


@dataclass(frozen=True, kw_only=True)
class OnlineScore:
    run_id: str
    passed: bool
    verdicts: tuple[Verdict, ...]
    failure: Attribution | None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "passed": self.passed,
            "checks": [v.to_json() for v in self.verdicts],
            "failure": None
            if self.failure is None
            else {"component": self.failure.component, "why": self.failure.why},
        }


def sample_runs(
    store: Store, *, size: int, seed: int = 0, agent: str | None = None, pool: int = 1000
) -> list[str]:
    """``size`` finished runs drawn (seeded) from the newest ``pool``."""
    records = [
        r for r in store.runs.list(agent=agent, limit=pool, shadows=False) if r.status.is_final
    ]
    records = [r for r in records if r.status is not RunStatus.PAUSED]
    ids = sorted(r.id for r in records)
    return sorted(random.Random(seed).sample(ids, min(size, len(ids))))


async def score_runs(
    store: Store, run_ids: Sequence[str], checks: Sequence[Check] | None = None
) -> list[OnlineScore]:
    """Score each stored run with ``checks`` (default: ``default_checks``)."""
    chosen = list(checks) if checks is not None else default_checks()
    out = []
    for run_id in run_ids:
        obs = observe(await asyncio.to_thread(store.journal.read, run_id))
        case = Case(id=run_id.replace("/", "_")[:128], input=obs.goal or "-")
        verdicts = await score(case, obs, chosen)
        passed = all(v.passed for v in verdicts)
        failure = None if passed else attribute(case, obs, verdicts)
        out.append(OnlineScore(run_id=run_id, passed=passed, verdicts=verdicts, failure=failure))
    return out


def summary(scores: Sequence[OnlineScore]) -> tuple[float, list[ComponentFailures]]:
    """The pass rate and the failures by component."""
    rate = sum(s.passed for s in scores) / len(scores) if scores else 0.0
    fails = [(s.run_id, s.run_id, s.failure) for s in scores if s.failure is not None]
    return rate, group(fails)
