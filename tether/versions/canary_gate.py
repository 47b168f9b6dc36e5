"""The eval gate before a canary takes traffic: the candidate must pass what promote asks.

``gate_canary`` runs the candidate's eval datasets on the candidate and on the version the
canary's tenant runs now (``tether.versions.promote``), saves the report as evidence and, on a
regression, records a ``canary_refused`` release entry: a candidate that does worse on its
evals never reaches a user's run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tether.agent.spec import Agent
from tether.errors import UsageError
from tether.settings import Settings
from tether.versions.promote import (
    PromotionReport,
    eval_paths,
    evaluate_promotion,
    save_report,
)
from tether.versions.registry import VersionStore


async def gate_canary(
    settings: Settings,
    versions: VersionStore,
    candidate: Agent,
    evals: Sequence[Path],
    *,
    tenant: str,
    by: str,
    max_drop: float | None = None,
) -> tuple[PromotionReport, Path]:
    """The candidate's evals (``evals``, else its own) against the tenant's current version;
    (report, evidence path)."""
    datasets = eval_paths(candidate, evals)
    if not datasets:
        raise UsageError(
            f"agent {candidate.name!r} declares no evals to gate the canary on; add 'evals: "
            "[DATASET]' to its file, give --eval DATASET, or --skip-evals"
        )
    current_v = versions.current(candidate.name, tenant)
    if current_v is None:
        raise UsageError(
            f"agent {candidate.name!r} has no current version to compare a canary with; "
            "promote one first (`tether agents promote NAME`)"
        )
    current = versions.get(candidate.name, current_v).build()
    report = await evaluate_promotion(settings, candidate, current, datasets, max_drop=max_drop)
    path = save_report(settings, report)
    if not report.passed:
        versions.log(
            candidate.name,
            "canary_refused",
            candidate.version,
            by=by,
            reason="; ".join(report.reasons) + f" (evidence: {path})",
            tenant=tenant,
            from_version=current_v,
        )
    return report, path
