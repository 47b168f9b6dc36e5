"""Chaos scenarios that SIGKILL the process running a durable run, then recover it.

``tether run`` runs the chaos agent (:mod:`tether.evals.chaos_agent`) in a child process
that kills itself mid-run; the run is then taken over by a ``tether worker`` with the same
executor id (a restart), or adopted by ``tether runs resume`` once the dead executor's lease
has expired. The run must finish ``succeeded`` with every step's effect exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tether.evals.chaos import ChaosEnv, Observed, Scenario
from tether.evals.chaos_agent import MODEL_ID, effects_db
from tether.redact import Redactor
from tether.settings import Settings
from tether.store import Store
from tether.types import RunStatus

STEPS = 4
LEASE_S = 1.5
AGENT = """name: chaos-steps
instructions: Record every step.
model: {model}
tools: ["tether.evals.chaos_agent:{tool}"]
limits: {{max_steps: 20, max_tool_calls: 20}}
"""


class Crash:
    """One crash scenario's processes, files and run."""

    def __init__(self, folder: Path, kill: str, tool: str) -> None:
        self.folder = folder
        self.agent = folder / "agent.yaml"
        self.agent.write_text(AGENT.format(model=MODEL_ID, tool=tool), encoding="utf-8")
        self.env = os.environ | {
            "TETHER_HOME": str(folder / "home"),
            "TETHER_CHAOS_DIR": str(folder),
            "TETHER_CHAOS_KILL": kill,
            "TETHER_CHAOS_STEPS": str(STEPS),
            "TETHER_CHAOS_TOOL": tool,
            "TETHER_LEASE_S": str(LEASE_S),
        }

    def tether(self, *args: str, timeout: float = 180, **extra: str) -> int:
        log = self.folder / "tether.log"
        with log.open("ab") as out:
            done = subprocess.run(
                [sys.executable, "-m", "tether.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env | extra,
                cwd=self.folder,
                timeout=timeout,
                check=False,
            )
        return done.returncode

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        with (self.folder / "worker.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "tether.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env | extra,
                cwd=self.folder,
            )

    def run_status(self) -> tuple[str, RunStatus] | None:
        store = Store.open(Settings(home=self.folder / "home").db_url, Redactor(enabled=False))
        try:
            runs = store.runs.list(limit=1)
        finally:
            store.close()
        return (runs[0].id, runs[0].status) if runs else None

    def wait_final(self, timeout: float = 120) -> RunStatus | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.run_status()
            if found is not None and found[1].is_final:
                return found[1]
            time.sleep(0.3)
        return None

    def effects(self) -> list[int]:
        with effects_db(self.folder) as conn:
            return [n for (n,) in conn.execute("SELECT n FROM effects ORDER BY rowid")]

    def attempts(self, n: int) -> int:
        with effects_db(self.folder) as conn:
            (count,) = conn.execute("SELECT count(*) FROM attempts WHERE n = ?", (n,)).fetchone()
        return int(count)

    def observe(
        self, status: RunStatus | None, killed: bool, *checks: tuple[str, bool]
    ) -> Observed:
        effects = self.effects()
        once = effects == list(range(STEPS))
        return Observed(
            status=status,
            effects=len(effects),
            checks=(("killed mid-run", killed), ("each step once, in order", once), *checks),
            detail=f"effects {effects}",
        )


def _restart(folder: Path) -> Observed:
    """SIGKILL during model call 2; a worker with the same executor id finishes the run."""
    crash = Crash(folder, "model:2", "record_step")
    code = crash.tether(
        "run", "--agent", str(crash.agent), "record the steps", TETHER_EXECUTOR_ID="exec-chaos"
    )
    killed = code == -signal.SIGKILL and crash.run_status() is not None
    worker = crash.spawn("worker", "--executor-id", "exec-chaos", "--grace", "5")
    try:
        status = crash.wait_final()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    return crash.observe(status, killed, ("worker exited cleanly", worker.returncode == 0))


def _adopt(folder: Path) -> Observed:
    """SIGKILL after step 1's charge, before tether recorded it; once the lease expires,
    ``tether runs resume`` adopts the run: the charge runs again with its key and the
    payment API applies it once."""
    crash = Crash(folder, "after:1", "charge_step")
    code = crash.tether("run", "--agent", str(crash.agent), "record the steps")
    found = crash.run_status()
    killed = code == -signal.SIGKILL and found is not None
    time.sleep(LEASE_S + 0.5)  # the dead executor's lease runs out
    resumed = crash.tether("runs", "resume", found[0]) if found else -1
    status = crash.run_status()
    return crash.observe(
        status[1] if status else None,
        killed,
        ("resume succeeded", resumed == 0),
        ("step 1 ran twice, applied once", crash.attempts(1) == 2),
    )


async def worker_restart(env: ChaosEnv) -> Observed:
    return await asyncio.to_thread(_restart, env.folder)


async def lease_adoption(env: ChaosEnv) -> Observed:
    return await asyncio.to_thread(_adopt, env.folder)


CRASH_SCENARIOS = [
    Scenario(
        name="worker_kill_restart",
        fault="worker_kill",
        run=worker_restart,
        expected_effects=STEPS,
    ),
    Scenario(
        name="worker_kill_lease_adoption",
        fault="worker_kill",
        run=lease_adoption,
        expected_effects=STEPS,
    ),
]
