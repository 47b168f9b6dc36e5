"""The canary monitor runs in the worker: queued runs routed 20% to a candidate that never
answers are executed by a real `tether worker` process, which stops the canary by itself."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.procs import SPAWNED
from tests.versions.helpers import agent_yaml, env, make_project
from tether.agent.spec import load_agent
from tether.runtime import Runtime
from tether.settings import Settings
from tether.types import RunStatus
from tether.versions import Canaries, Thresholds, VersionStore

RUNS = 60  # at 20%, fewer than 2 candidate runs among 60 has a chance below 1 in 10,000


async def _submit(rt: Runtime, tmp_path: Path) -> list[str]:
    agent = load_agent(tmp_path / "agents" / "support.yaml")
    return [await rt.submit(agent, f"task {n}") for n in range(RUNS)]


def test_a_worker_stops_a_failing_canary(tmp_path: Path) -> None:
    make_project(tmp_path, model="good")
    (tmp_path / "candidate.yaml").write_text(agent_yaml("broken"))
    settings = Settings(home=tmp_path / "home", workspace=tmp_path)
    rt = Runtime(settings=settings, route_versions=True)
    vs = VersionStore(rt.store.engine)
    try:
        current = vs.register(load_agent(tmp_path / "agents" / "support.yaml"), by="test")
        vs.promote("support", current.version, by="test")
        candidate = vs.register(load_agent(tmp_path / "candidate.yaml"), by="test")
        limits = Thresholds(min_runs=2, max_cost_increase=None, max_latency_increase=None)
        Canaries(vs).start("support", candidate.version, 0.2, limits, by="test")
        run_ids = asyncio.run(_submit(rt, tmp_path))
    finally:
        rt.close()
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tether.cli", "worker", "--concurrency", "4", "--grace", "5"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env(tmp_path),
            cwd=tmp_path,
        )
    SPAWNED.append(worker)
    rt = Runtime(settings=settings)
    vs = VersionStore(rt.store.engine)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            channel = vs.channel("support")
            assert channel is not None and worker.poll() is None, log.read_text()[-3000:]
            if channel.canary_state == "stopped":
                break
            if all(rt.store.runs.status(r).is_final for r in run_ids):
                break
            time.sleep(0.5)
        assert channel.canary_state == "stopped", log.read_text()[-3000:]
        assert "success rate 0%" in (channel.canary_reason or "")
        (stop,) = [h for h in vs.history("support") if h.action == "canary_auto_stop"]
        assert stop.actor == "canary-monitor" and stop.version == candidate.version
        failed = [r for r in run_ids if rt.store.runs.status(r) is RunStatus.FAILED]
        assert {rt.store.runs.get(r).agent_version for r in failed} == {candidate.version}
    finally:
        rt.close()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
