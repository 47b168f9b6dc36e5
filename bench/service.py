"""The HTTP service under load: 1,000 runs submitted concurrently over HTTP, all completed.

Writes bench/results/service.json (metric names in DESIGN §5). Real processes on 127.0.0.1:
`tether serve` (API only) and WORKERS `tether worker` processes with CONCURRENCY runs each, on
one SQLite file. The model sleeps 0.2 s per call and answers at once (one model call per run).
Clients POST /v1/runs from CLIENTS threads at once; while runs execute, a prober measures
GET /v1/runs/{id}. Wall time is from the first POST to the last run finished; the ideal is
ceil(RUNS / (WORKERS * CONCURRENCY)) * MODEL_CALLS * 0.2 s. Peak RSS of the workers from /proc.

    .venv/bin/python bench/service.py [RUNS]
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import sqlalchemy as sa

from bench.common import metric, write_results

ROOT = Path(__file__).resolve().parent.parent
RUNS = 1000
WORKERS = 2
CONCURRENCY = 16
CLIENTS = 32
MODEL_CALLS = 1
SLEEP_S = 0.2
AGENT = """name: sleepy
instructions: Say done.
model: python:bench.scale_models:model
tools: ["bench.scale_models:echo"]
limits: {max_steps: 4, max_tool_calls: 4}
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(env: dict[str, str], home: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    with (home / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tether.cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
        )


def _wait_log(home: Path, name: str, proc: subprocess.Popen[bytes], text: str) -> None:
    deadline = time.monotonic() + 180
    while text not in (home / f"{name}.log").read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((home / f"{name}.log").read_text(errors="replace")[-3000:])
        time.sleep(0.1)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(runs: int = RUNS) -> None:
    home = Path(tempfile.mkdtemp(prefix="tether-service-bench-"))
    (home / "agents").mkdir()
    (home / "agents" / "sleepy.yaml").write_text(AGENT)
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "TETHER_HOME": str(home / "home"),
        "TETHER_WORKER_CONCURRENCY": str(CONCURRENCY),
        "TETHER_QUEUE_POLL_S": "0.1",
        "BENCH_MODEL_SLEEP_S": str(SLEEP_S),
        "BENCH_STEPS": str(MODEL_CALLS - 1),
    }
    key_out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether.cli",
            "keys",
            "create",
            "--tenant",
            "bench",
            "--scope",
            "runs:write",
            "--scope",
            "runs:read",
            "--json",
        ],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(key_out.stdout)["key"]
    port = _port()
    base = f"http://127.0.0.1:{port}"
    server = _spawn(env, home, "serve", "serve", "--port", str(port))
    workers = [
        _spawn(env | {"TETHER_EXECUTOR_ID": f"w{n}"}, home, f"w{n}", "worker", "--grace", "5")
        for n in range(WORKERS)
    ]
    try:
        _wait_log(home, "serve", server, "serving")
        for n, w in enumerate(workers):
            _wait_log(home, f"w{n}", w, "ready")
        headers = {"Authorization": f"Bearer {key}"}
        http = httpx.Client(
            base_url=base,
            headers=headers,
            timeout=120,
            limits=httpx.Limits(max_connections=CLIENTS),
        )
        while True:
            try:
                if http.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)

        def submit(i: int) -> str:
            r = http.post("/v1/runs", json={"agent": "sleepy", "goal": f"run {i}"})
            r.raise_for_status()
            return str(r.json()["run_id"])

        latencies: list[float] = []
        failures: list[str] = []
        stop = threading.Event()
        ids: list[str] = []

        def probe() -> None:  # its own connection, like a separate dashboard or client
            with httpx.Client(base_url=base, headers=headers, timeout=120) as own:
                while not stop.is_set():
                    if ids:
                        t = time.perf_counter()
                        try:
                            own.get(f"/v1/runs/{ids[len(ids) // 2]}").raise_for_status()
                            latencies.append((time.perf_counter() - t) * 1000)
                        except httpx.HTTPError as exc:
                            failures.append(type(exc).__name__)
                    time.sleep(0.05)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        load_before = os.getloadavg()[0]
        cpu_before = {p.pid: _cpu_s(p.pid) for p in (server, *workers)}
        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            for run_id in pool.map(submit, range(runs)):
                ids.append(run_id)
        submitted = time.perf_counter() - started
        engine = sa.create_engine(f"sqlite:///{home / 'home' / 'tether.db'}")
        open_ = sa.text("SELECT count(*) FROM tether_runs WHERE status IN ('queued', 'running')")
        while True:
            with engine.connect() as conn:
                left = conn.scalar(open_)
            if not left:
                break
            time.sleep(0.1)
        wall = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        serve_cpu = _cpu_s(server.pid) - cpu_before[server.pid]
        worker_cpu = sum(_cpu_s(w.pid) - cpu_before[w.pid] for w in workers)
        stop.set()
        prober.join(timeout=130)
        with engine.connect() as conn:
            done = conn.scalar(
                sa.text("SELECT count(*) FROM tether_runs WHERE status = 'succeeded'")
            )
        engine.dispose()
        rss = max(_rss_mb(w.pid) for w in workers)
        http.close()
    finally:
        for p in (*workers, server):
            p.send_signal(signal.SIGTERM)
        for p in (*workers, server):
            p.wait(timeout=120)
    ideal = math.ceil(runs / (WORKERS * CONCURRENCY)) * MODEL_CALLS * SLEEP_S
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 20 else [0.0] * 19
    shape = f"{runs} runs, {WORKERS} workers x {CONCURRENCY}, {CLIENTS} HTTP clients, SQLite"
    metrics = {
        "concurrent_1000_wall_over_ideal": metric(
            wall / ideal,
            "ratio",
            "<= 1.3",
            f"{wall:.1f} s over ideal {ideal:.1f} s; {shape}; {done}/{runs} succeeded; "
            f"submitting took {submitted:.1f} s; load average {load_before:.1f} at the start, "
            f"{load_after:.1f} at the end, on {os.cpu_count()} cores shared with other work",
        ),
        "api_get_p50_ms": metric(
            statistics.median(latencies) if latencies else 0.0,
            "ms",
            "",
            f"GET /v1/runs/{{id}} while the runs executed, n={len(latencies)}, "
            f"{len(failures)} failed",
        ),
        "api_get_p95_ms": metric(q[18], "ms", "", "same samples"),
        "worker_peak_rss_mb": metric(rss, "MB", "", "VmHWM of the largest worker"),
        "runs_succeeded": metric(done or 0, "runs", str(runs), shape),
        "serve_cpu_ms_per_run": metric(
            serve_cpu / runs * 1000, "ms", "", "CPU time of `tether serve` (POST, GETs) per run"
        ),
        "worker_cpu_ms_per_run": metric(
            worker_cpu / runs * 1000, "ms", "", "CPU time of all workers per run executed"
        ),
        "cpu_floor_over_ideal": metric(
            (serve_cpu + worker_cpu) / (os.cpu_count() or 1) / ideal,
            "ratio",
            "",
            "the wall time the service's CPU alone needs on all cores, over the ideal",
        ),
    }
    path = write_results("service.json", metrics)
    print(path.read_text())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else RUNS)
