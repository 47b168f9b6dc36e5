"""Eval-gated promotion: a candidate becomes current only if its evals do not regress.

Each of the agent's eval datasets runs through the eval harness twice, with the candidate and
with the current version, in the project's database (every eval run can be opened with
``tether runs show``). The gate is the harness's (``tether eval run --gate``): the dataset's
``min_pass_rate``, and the current version's pass rate as the baseline with the dataset's (or
the given) ``max_drop``. The report is saved as JSON and referenced from the version's row,
whatever the outcome: it is the evidence for the promotion or the refusal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tether.agent.spec import Agent
from tether.errors import UsageError
from tether.evals import gate as gates
from tether.evals.gate import GateOutcome
from tether.settings import Settings


@dataclass(frozen=True, kw_only=True)
class DatasetVerdict:
    dataset: str
    path: str
    candidate: dict[str, Any]  # the candidate's eval report (EvalResult.to_json)
    current: dict[str, Any] | None
    outcome: GateOutcome

    def to_json(self) -> dict[str, Any]:
        def brief(report: dict[str, Any] | None) -> dict[str, Any] | None:
            if report is None:
                return None
            keys = ("pass_rate", "passed", "attempts", "failures")
            runs = [a["run_id"] for r in report["results"] for a in r["attempts"] if a["run_id"]]
            return {k: report[k] for k in keys} | {"runs": runs}

        return {
            "dataset": self.dataset,
            "path": self.path,
            "gate": self.outcome.to_json(),
            "candidate": brief(self.candidate),
            "current": brief(self.current),
        }


@dataclass(frozen=True, kw_only=True)
class PromotionReport:
    agent: str
    candidate_version: str
    current_version: str | None
    verdicts: tuple[DatasetVerdict, ...]
    skipped_evals: bool = False
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def passed(self) -> bool:
        return all(v.outcome.passed for v in self.verdicts)

    @property
    def reasons(self) -> list[str]:
        return [f"{v.dataset}: {r}" for v in self.verdicts for r in v.outcome.reasons]

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "candidate_version": self.candidate_version,
            "current_version": self.current_version,
            "passed": self.passed,
            "reasons": self.reasons,
            "skipped_evals": self.skipped_evals,
            "at": self.at.isoformat(timespec="seconds"),
            "datasets": [v.to_json() for v in self.verdicts],
        }


def eval_paths(agent: Agent, given: Sequence[Path]) -> list[Path]:
    """The datasets to gate on: ``given`` (``--eval``), else the agent's ``evals``."""
    paths = list(given) or [Path(p) for p in agent.evals]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(
            f"agent {agent.name!r}: eval dataset {missing[0]!r} does not exist; fix the "
            "path in its 'evals' field or --eval"
        )
    return paths


def decide_dataset(
    candidate_rate: float, current_rate: float | None, gate: Any, max_drop: float | None
) -> GateOutcome:
    """The harness's gate with the current version's pass rate as the baseline (pure).

    With no current version and no ``min_pass_rate`` there is nothing to regress against:
    the first version passes."""
    spec = gate if max_drop is None else gate.model_copy(update={"max_drop": max_drop})
    if current_rate is None and spec.min_pass_rate is None:
        return GateOutcome(passed=True, reasons=(), pass_rate=candidate_rate, baseline=None)
    return gates.decide(candidate_rate, spec, current_rate)


async def evaluate_promotion(
    settings: Settings,
    candidate: Agent,
    current: Agent | None,
    datasets: Sequence[Path],
    *,
    max_drop: float | None = None,
    concurrency: int = 4,
) -> PromotionReport:
    """Run each dataset on the candidate and the current version and gate each."""
    from tether.evals.components import run_dataset
    from tether.evals.dataset import load_dataset
    from tether.evals.harness import Harness

    verdicts = []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    for n, path in enumerate(datasets):
        data = load_dataset(path)
        folder = settings.home / "evals" / f"promote-{candidate.name}-{stamp}-{n}"
        harness = Harness.open(folder, settings)
        try:
            mine = await run_dataset(data, harness, agent=candidate, concurrency=concurrency)
            theirs = None
            if current is not None:
                theirs = await run_dataset(data, harness, agent=current, concurrency=concurrency)
        finally:
            harness.close()
        outcome = decide_dataset(
            mine.pass_rate, theirs.pass_rate if theirs else None, data.gate, max_drop
        )
        verdicts.append(
            DatasetVerdict(
                dataset=data.name,
                path=str(path),
                candidate=mine.to_json(),
                current=theirs.to_json() if theirs else None,
                outcome=outcome,
            )
        )
    return PromotionReport(
        agent=candidate.name,
        candidate_version=candidate.version,
        current_version=current.version if current else None,
        verdicts=tuple(verdicts),
        skipped_evals=not datasets,
    )


def save_report(settings: Settings, report: PromotionReport) -> Path:
    """Write the report under ``TETHER_HOME/releases/`` and return its path."""
    stamp = report.at.strftime("%Y%m%dT%H%M%S")
    outcome = "promoted" if report.passed else "refused"
    name = f"{report.agent}-{report.candidate_version}-{stamp}-{outcome}.json"
    path = settings.home / "releases" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return path.resolve()
