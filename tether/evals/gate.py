"""The release gate: does an eval run meet its thresholds? (pure, plus the baseline file)

A dataset's ``gate`` (or the command line) sets ``min_pass_rate`` and/or a ``baseline``
file with a saved pass rate; the run fails the gate when its pass rate is below the minimum
or more than ``max_drop`` below the baseline. ``save_baseline`` writes the file (JSON:
``{"dataset", "pass_rate", "cases", "attempts", "model", "saved_at"}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.evals.dataset import Gate
from tether.evals.runner import EvalResult


@dataclass(frozen=True, kw_only=True)
class GateOutcome:
    passed: bool
    reasons: tuple[str, ...]
    pass_rate: float
    baseline: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "pass_rate": round(self.pass_rate, 4),
            "baseline": self.baseline,
        }


def load_baseline(path: Path) -> float:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return float(data["pass_rate"])
    except FileNotFoundError as exc:
        raise ConfigError(
            f"baseline {str(path)!r} does not exist; save one with --save-baseline"
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"baseline {str(path)!r} is not a JSON object with a numeric 'pass_rate'; "
            "save it again with --save-baseline"
        ) from exc


def decide(pass_rate: float, gate: Gate, baseline: float | None) -> GateOutcome:
    """Pass or fail, with every reason (pure)."""
    reasons = []
    if gate.min_pass_rate is not None and pass_rate < gate.min_pass_rate:
        reasons.append(f"pass rate {pass_rate:.1%} is below the minimum {gate.min_pass_rate:.1%}")
    if baseline is not None and pass_rate < baseline - gate.max_drop - 1e-9:
        reasons.append(
            f"pass rate {pass_rate:.1%} dropped below the baseline {baseline:.1%}"
            + (f" by more than {gate.max_drop:.1%}" if gate.max_drop else "")
        )
    if gate.min_pass_rate is None and baseline is None:
        reasons.append("no threshold: set gate.min_pass_rate or a baseline in the dataset")
    return GateOutcome(
        passed=not reasons, reasons=tuple(reasons), pass_rate=pass_rate, baseline=baseline
    )


def check_gate(result: EvalResult, gate: Gate, baseline_path: Path | None) -> GateOutcome:
    baseline = load_baseline(baseline_path) if baseline_path is not None else None
    return decide(result.pass_rate, gate, baseline)


def save_baseline(result: EvalResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "dataset": result.dataset,
        "pass_rate": round(result.pass_rate, 4),
        "cases": len(result.cases),
        "attempts": len(result.attempts),
        "model": result.model,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
