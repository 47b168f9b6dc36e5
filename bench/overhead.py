"""Per-step overhead of the agent loop, peak memory of a real run, and local model speed.

Writes bench/results/overhead.json (metric names in DESIGN §5):
- step_overhead_ms_nondurable: median wall time of one step (scripted model answering at once,
  one tool call per step), over 250 steps, SQLite journal in WAL mode.
- step200_over_step1: median step time around step 200 over the median of the first 20 steps.
- run_peak_rss_mb: peak RSS of `tether run` on the embedded model (a child process).
- local_tokens_per_s_ratio: generation speed through tether / raw llama-cpp-python.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median, metric, write_results
from tether import Agent, Limits, Runtime, tool
from tether.settings import Settings
from tether.testing import ScriptedModel, answer, call

STEPS = 250


@tool
def echo(n: int) -> dict[str, int]:
    """Return the number it is given.

    Args:
        n: any integer
    """
    return {"n": n}


def step_times(home: Path, *, durable: bool = False, db: str | None = None) -> list[float]:
    """Milliseconds between consecutive model requests of one long run (``db``: TETHER_DB)."""
    model = ScriptedModel(steps=[*(call("echo", n=i) for i in range(STEPS)), answer("done")])
    agent = Agent(
        name="bench",
        model="scripted",
        tools=[echo],
        limits=Limits(max_steps=STEPS + 1, max_tool_calls=STEPS, max_tokens=10**9),
    )
    settings = Settings(home=home, db=db)
    rt = Runtime(settings=settings, models={"scripted": model}, durable=durable)
    result = asyncio.run(rt.run(agent, "echo numbers"))
    assert result.status.value == "succeeded", result
    stamps = [e.ts for e in rt.store.journal.read(result.run_id) if e.kind == "model_request"]
    rt.close()
    return [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(stamps) if a and b]


def peak_rss_mb(home: Path) -> float:
    """Peak RSS of a real `tether run` on the embedded model, in a child process."""
    env = os.environ | {"TETHER_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "tether.cli", "run", "What is 12 * 12?", "--json"],
        env=env,
        capture_output=True,
        check=False,
        timeout=600,
    )
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def durable_step_times(home: Path, db: str | None = None) -> list[float]:
    """The same run as durable DBOS workflow steps, in a child process (DBOS is a singleton)."""
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, '.');"
        "from bench.overhead import step_times;"
        f"print(json.dumps(step_times(Path({str(home)!r}), durable=True, db={db!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


N_BASE = 500


def dbos_baseline_ms() -> float:
    here = Path(__file__).resolve().parent
    out = subprocess.run(
        [sys.executable, str(here / "dbos_baseline.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return float(json.loads(out.stdout)["ms_per_step"])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        times = step_times(Path(tmp) / "steps")
        durable_times = durable_step_times(Path(tmp) / "durable")
        baseline = dbos_baseline_ms()
        early, late = median(times[:20]), median(times[190:210])
        rss = peak_rss_mb(Path(tmp) / "rss")
    metrics = {
        "step_overhead_ms_nondurable": metric(
            median(times),
            "ms",
            "as low as possible",
            f"median of {len(times)} steps; scripted model, one tool call per step, SQLite WAL",
        ),
        "step_overhead_ms_durable": metric(
            median(durable_times),
            "ms",
            "<= 3",
            f"median of {len(durable_times)} agent steps, each 2 DBOS steps (model, tool); "
            "4 commits per agent step: 2 journal transactions (model request+response; a read "
            "tool's intent+outcome) + 2 DBOS step records; SQLite WAL",
        ),
        "dbos_step_ms_baseline": metric(
            baseline,
            "ms",
            "",
            f"one trivial async DBOS step, same machine and run ({N_BASE} steps); "
            "a durable agent step is 2 DBOS steps",
        ),
        "durable_over_dbos_floor": metric(
            median(durable_times) / (2 * baseline),
            "ratio",
            "",
            "durable agent step over the cost of its 2 DBOS steps alone",
        ),
        "durable_over_nondurable": metric(
            median(durable_times) / median(times),
            "ratio",
            "",
            "same run, same process kind, measured together",
        ),
        "step200_over_step1": metric(
            late / early, "ratio", "<= 1.2", "median of steps 190-210 over median of steps 1-20"
        ),
        "run_peak_rss_mb": metric(rss, "MB", "", "tether run on local:smollm2 (n_ctx 4096)"),
    }
    try:
        from bench.local_speed import measure_tokens_per_s_ratio
        from tether.models.registry import default_model_path

        speed = measure_tokens_per_s_ratio(default_model_path())
        metrics["local_tokens_per_s_ratio"] = metric(
            speed["ratio"],
            "ratio",
            ">= 0.95",
            f"tether {speed['tether_tokens_per_s']:.1f} tok/s over raw "
            f"{speed['raw_tokens_per_s']:.1f} tok/s, same prompt and seed",
        )
    except ImportError as exc:  # pragma: no cover - reported, not hidden
        print(f"local speed benchmark unavailable: {exc}", file=sys.stderr)
    path = write_results("overhead.json", metrics)
    print(path.read_text())


if __name__ == "__main__":
    main()
