"""The golden set's figures, merged into bench/results/evals.json (the chaos and red-team
suites add theirs to the same file).

- golden_cases: the cases of evals/golden.yaml (demo agent; agent, tool, retrieval and judge
  components).
- golden_pass_rate_scripted: their pass rate with the cases' scripted model turns (goal 1.0:
  deterministic, run in `make test`).
- golden_pass_rate_local: the pass rate of the fixed `local` sample on the embedded model
  (local:smollm2, scripts ignored); evals/baseline-local.json holds the committed baseline
  that `make test` gates against (a regression gate: the tiny model's absolute rate is low).
  `--save-baseline` rewrites that file from this run.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import merge_results, metric
from tether.evals.components import run_dataset
from tether.evals.dataset import load_dataset
from tether.evals.gate import load_baseline, save_baseline
from tether.evals.harness import Harness
from tether.evals.runner import EvalResult

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "evals" / "golden.yaml"
BASELINE = ROOT / "evals" / "baseline-local.json"


def run(folder: Path, *, scripted: bool) -> EvalResult:
    data = load_dataset(GOLDEN)
    if not scripted:
        data = data.select(tags=["local"])
    harness = Harness.open(folder)
    try:
        return asyncio.run(
            run_dataset(
                data,
                harness,
                scripted=scripted,
                model=None if scripted else "local:smollm2",
                concurrency=4 if scripted else 2,
            )
        )
    finally:
        harness.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scripted = run(Path(tmp) / "scripted", scripted=True)
        local = run(Path(tmp) / "local", scripted=False)
    if "--save-baseline" in sys.argv:
        save_baseline(local, BASELINE)
    base = load_baseline(BASELINE) if BASELINE.exists() else None
    failed = [a.case_id for a in local.attempts if not a.passed]
    path = merge_results(
        "evals.json",
        {
            "golden_cases": metric(len(scripted.cases), "cases", ">= 50"),
            "golden_pass_rate_scripted": metric(
                scripted.pass_rate, "ratio", "1.0", f"{len(scripted.attempts)} attempts"
            ),
            "golden_pass_rate_local": metric(
                local.pass_rate,
                "ratio",
                f">= baseline {base}" if base is not None else "recorded",
                f"local:smollm2 on {len(local.cases)} cases tagged 'local'; failed: {failed}",
            ),
        },
    )
    print(f"wrote {path}: scripted {scripted.pass_rate:.1%}, local {local.pass_rate:.1%}")


if __name__ == "__main__":
    main()
