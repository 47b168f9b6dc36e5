"""Per-step overhead of the agent loop, peak memory of a real run, and local model speed.

Writes bench/results/overhead.json (metric names in DESIGN §5):
- step_overhead_ms_nondurable / step_overhead_ms_durable: median wall time of one agent step
  (scripted model answering at once, one sync tool call per step), SQLite in WAL mode; the
  durable run goes through ``Runtime(durable=True)`` like ``tether run``: each agent step is two
  DBOS steps (model, tool), each committing its journal events with DBOS's record of the
  step. ROUNDS rounds of STEPS steps each, interleaved with the DBOS baseline
  (bench/dbos_baseline.py): the machine is shared, so the ratios measured in the same round
  are the figures to compare; the load average goes into the notes.
- durable_commits_per_step: SQLite commits per agent step, counted by what they wrote (a traced
  run of its own, bench/commits.py).
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
ROUNDS = 3


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


def _child(code: str) -> str:
    """Run ``code`` in a fresh interpreter (DBOS is a process-wide singleton); its last line."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, '.');" + code],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return out.stdout.strip().splitlines()[-1]


def durable_step_times(home: Path, db: str | None = None) -> list[float]:
    """The same run as durable DBOS workflow steps, in a child process (``db``: TETHER_DB)."""
    code = (
        "import json; from pathlib import Path; from bench.overhead import step_times;"
        f"print(json.dumps(step_times(Path({str(home)!r}), durable=True, db={db!r})))"
    )
    return list(json.loads(_child(code)))


def _traced_commits(home: Path, steps: int) -> dict[str, int]:
    code = (
        "import json; from pathlib import Path; import bench.overhead as o;"
        "from bench.commits import CommitCounter; c = CommitCounter(); c.install();"
        f"o.STEPS = {steps}; o.step_times(Path({str(home)!r}), durable=True);"
        "print(json.dumps(dict(c.commits)))"
    )
    return dict(json.loads(_child(code)))


def durable_commits(home: Path, short: int = 40, long: int = 120) -> dict[str, float]:
    """Commits per agent step, by kind: the difference between traced durable runs of
    ``long`` and ``short`` steps over the difference in steps; ``per_run`` is the rest."""
    a, b = _traced_commits(home / "short", short), _traced_commits(home / "long", long)
    kinds = set(a) | set(b)
    per_step = {k: (b.get(k, 0) - a.get(k, 0)) / (long - short) for k in kinds}
    per_run = sum(a.get(k, 0) - per_step[k] * short for k in kinds)
    return per_step | {"per_run": per_run}


N_BASE = 500


def dbos_baseline_ms() -> float:
    return float(json.loads(_child("from bench.dbos_baseline import main; main()"))["ms_per_step"])


def measure(tmp: Path) -> dict[str, list[float]]:
    """ROUNDS interleaved rounds of: a direct run, a durable run, the DBOS baseline."""
    runs: dict[str, list[float]] = {"direct": [], "durable": [], "base": [], "ratio": []}
    for r in range(ROUNDS):
        direct = step_times(tmp / f"steps{r}")
        durable = durable_step_times(tmp / f"durable{r}")
        base = dbos_baseline_ms()
        runs["direct"].append(median(direct))
        runs["durable"].append(median(durable))
        runs["base"].append(base)
        runs["ratio"].append(median(durable) / (2 * base))
        if r == 0:
            runs["early"], runs["late"] = [median(direct[:20])], [median(direct[190:210])]
    return runs


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        runs = measure(Path(tmp))
        load_after = _load()
        commits = durable_commits(Path(tmp) / "commits")
        rss = peak_rss_mb(Path(tmp) / "rss")
    direct, durable, base = median(runs["direct"]), median(runs["durable"]), median(runs["base"])
    early, late = runs["early"][0], runs["late"][0]
    folded = commits.get("journal+dbos_step", 0)
    per_step = commits.get("journal", 0) + commits.get("dbos_step", 0) + folded
    load = f"{load_before} before, {load_after} after the timed rounds"
    steps = f"median of {ROUNDS} rounds' medians, each over {STEPS} steps"
    pairs = zip(runs["durable"], runs["direct"], strict=True)
    per_round = ", ".join(f"{d / n:.2f}" for d, n in pairs)
    metrics = {
        "step_overhead_ms_nondurable": metric(
            direct,
            "ms",
            "as low as possible",
            f"{steps}; scripted model, one sync tool "
            f"call per step, SQLite WAL; 2 journal commits per step; {load}",
        ),
        "step_overhead_ms_durable": metric(
            durable,
            "ms",
            "<= 3",
            f"{steps} (agent steps) through Runtime(durable="
            f"True); each is 2 DBOS steps (model, tool) and {per_step:g} SQLite commits per "
            f"agent step: {folded:g} DBOS step records each carrying the step's journal events "
            f"(tether/durable/fold.py), {commits.get('journal', 0):g} journal-only and "
            f"{commits.get('dbos_step', 0):g} DBOS-only; SQLite WAL; {load}; in-process "
            f"(non-durable) step in the same rounds: {direct:.2f} ms (ratio "
            f"{durable / direct:.2f})",
        ),
        "durable_commits_per_step": metric(
            per_step,
            "commits",
            "",
            f"counted in a traced run of its own: {folded:g} transactions with both journal "
            f"events and a DBOS step record, journal only {commits.get('journal', 0):g}, DBOS "
            f"step record only {commits.get('dbos_step', 0):g} per agent step; "
            f"{commits['per_run']:g} more per run (set-up, run record, finish)",
        ),
        "dbos_step_ms_baseline": metric(
            base,
            "ms",
            "",
            f"one trivial async DBOS step ({N_BASE} in a workflow), median of {ROUNDS} runs "
            "interleaved with the runs above; a durable agent step is 2 DBOS steps",
        ),
        "durable_over_dbos_floor": metric(
            median(runs["ratio"]),
            "ratio",
            "",
            "durable agent step over the cost of its 2 trivial DBOS steps alone, median of the "
            f"per-round ratios ({', '.join(f'{x:.2f}' for x in runs['ratio'])})",
        ),
        "durable_over_nondurable": metric(
            durable / direct,
            "ratio",
            "",
            f"medians of the same rounds; per round {per_round}",
        ),
        "durable_minus_dbos_floor_ms": metric(
            durable - 2 * base,
            "ms",
            "",
            "what a durable agent step costs beyond its 2 DBOS steps (journal, tool, prompt)",
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
