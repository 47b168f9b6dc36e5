"""Durable runs with real processes: SIGKILL between steps, restart or adoption, leases, secrets.

Every run here executes in a separate `tether` process (DBOS is a process-wide singleton). The
model and tool come from ``tests/durable_models.py``; they log every model call and every side
effect to files and kill their own process once at a chosen point.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.procs import SPAWNED

ROOT = Path(__file__).resolve().parent.parent
AGENT = str(ROOT / "tests" / "durable_agent.yaml")
STEPS = 4


class Env:
    def __init__(self, tmp: Path, **extra: str) -> None:
        self.tmp = tmp
        self.vars = os.environ | {
            "PYTHONPATH": str(ROOT),
            "TETHER_HOME": str(tmp / "home"),
            "TETHER_TEST_EFFECTS": str(tmp / "effects"),
            "TETHER_TEST_CALLS": str(tmp / "calls"),
            "TETHER_TEST_MARKER": str(tmp / "killed"),
            "TETHER_TEST_STEPS": str(STEPS),
            "TETHER_LEASE_S": "1.5",
            **extra,
        }

    def tether(
        self, *args: str, timeout: float = 120, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tether.cli", *args],
            capture_output=True,
            text=True,
            env=self.vars | extra,
            timeout=timeout,
            check=False,
            cwd=self.tmp,
        )

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        """A background `tether` process; its output goes to a log file in the test folder."""
        log = self.tmp / f"proc-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tether.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.vars | extra,
                cwd=self.tmp,
            )
        proc.args = [*args, str(log)]
        SPAWNED.append(proc)
        return proc

    @staticmethod
    def output(proc: subprocess.Popen[bytes]) -> str:
        return Path(proc.args[-1]).read_text(errors="replace")[-3000:]  # type: ignore[index]

    def lines(self, name: str) -> list[str]:
        path = self.tmp / name
        return path.read_text().splitlines() if path.exists() else []

    def only_run(self) -> dict[str, object]:
        out = self.tether("runs", "list", "--json")
        assert out.returncode == 0, out.stderr
        (run,) = json.loads(out.stdout)
        return run  # type: ignore[no-any-return]

    def events(self, run_id: str) -> list[dict[str, object]]:
        out = self.tether("runs", "events", run_id, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def wait_status(self, run_id: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.tether("runs", "show", run_id, "--json")
            status = json.loads(out.stdout)["status"]
            if status not in ("queued", "running"):
                return str(status)
            time.sleep(0.5)
        pytest.fail(f"run {run_id} did not finish in {timeout}s")


def crash(env: Env, point: str, **extra: str) -> str:
    out = env.tether("run", "--agent", AGENT, "bump the counter", TETHER_TEST_KILL=point, **extra)
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr[-2000:])
    run = env.only_run()
    assert run["status"] == "running"
    return str(run["run_id"])


def assert_exactly_once(env: Env, run_id: str, killed_model_call: int | None) -> None:
    assert env.lines("effects") == [str(n) for n in range(STEPS)]  # each side effect once
    calls = Counter(env.lines("calls"))
    for k in range(STEPS + 1):
        expected = 2 if k == killed_model_call else 1  # only the call in flight ran twice
        assert calls[f"model {k}"] == expected, calls
    events = env.events(run_id)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    kinds = [(e["step"], e["kind"]) for e in events]
    expected_kinds = [(0, "run_started")]
    for k in range(STEPS):
        expected_kinds += [
            (k, "policy_decision"),  # the model call's
            (k, "model_request"),
            (k, "model_response"),
            (k, "budget_charged"),
            (k, "policy_decision"),  # the tool call's, committed with its intent
            (k, "tool_call_started"),
            (k, "tool_call_finished"),
            (k, "budget_charged"),
        ]
    expected_kinds += [
        (STEPS, "policy_decision"),
        (STEPS, "model_request"),
        (STEPS, "model_response"),
        (STEPS, "budget_charged"),
        (STEPS + 1, "run_finished"),
    ]
    assert kinds == expected_kinds
    assert env.only_run()["status"] == "succeeded"


def twice_called(point: str) -> int | None:
    """The model call that ran twice: the one in flight, or whose commit was cut short."""
    kind, _, step = point.partition(":")
    return int(step) if kind in ("model", "commit") else None


# commit:K and toolcommit:K die inside the one transaction that commits a step's journal events
# with DBOS's record of the step (tether.durable.fold): neither may survive alone
@pytest.mark.parametrize("point", ["model:1", "tool:2", "commit:1", "toolcommit:2"])
def test_sigkill_then_restart_with_the_same_executor_id(tmp_path: Path, point: str) -> None:
    env = Env(tmp_path, TETHER_EXECUTOR_ID="exec-crashy")
    run_id = crash(env, point)
    worker = env.spawn("worker", "--executor-id", "exec-crashy", "--grace", "5")
    try:
        assert env.wait_status(run_id) == "succeeded"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, env.output(worker)
    assert_exactly_once(env, run_id, twice_called(point))


def test_a_run_killed_after_it_finished_stays_finished_when_its_segment_is_recovered(
    tmp_path: Path,
) -> None:
    # SIGKILL after the finish step was recorded, before DBOS marked the segment's workflow
    # done: recovery replays the segment (every step recorded, none runs again), and the run
    # must stay succeeded (the replay once set it back to running for good)
    env = Env(tmp_path, TETHER_EXECUTOR_ID="exec-crashy")
    out = env.tether("run", "--agent", AGENT, "bump the counter", TETHER_TEST_KILL="outcome")
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr[-2000:])
    run_id = str(env.only_run()["run_id"])
    assert env.only_run()["status"] == "succeeded"
    db = sqlite3.connect(tmp_path / "home" / "tether.db")
    query = "SELECT status FROM workflow_status WHERE workflow_uuid LIKE ?"
    assert db.execute(query, (f"{run_id}%",)).fetchall() == [("PENDING",)]
    worker = env.spawn("worker", "--executor-id", "exec-crashy", "--grace", "5")
    try:
        deadline = time.monotonic() + 120
        while db.execute(query, (f"{run_id}%",)).fetchall() != [("SUCCESS",)]:
            assert time.monotonic() < deadline, env.output(worker)
            time.sleep(0.3)
    finally:
        db.close()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, env.output(worker)
    assert env.only_run()["status"] == "succeeded"
    assert_exactly_once(env, run_id, None)


@pytest.mark.parametrize("point", ["model:3", "tool:0"])
def test_sigkill_then_adoption_after_the_lease_expires(tmp_path: Path, point: str) -> None:
    env = Env(tmp_path)
    run_id = crash(env, point)
    time.sleep(2.0)  # the dead executor's 1.5 s lease runs out
    out = env.tether("runs", "resume", run_id)
    assert out.returncode == 0, out.stderr[-2000:]
    assert_exactly_once(env, run_id, twice_called(point))


def test_worker_with_adopt_expired_takes_over_a_dead_runs(tmp_path: Path) -> None:
    env = Env(tmp_path)
    run_id = crash(env, "model:2")
    worker = env.spawn("worker", "--executor-id", "adopter", "--adopt-expired", "--grace", "5")
    try:
        assert env.wait_status(run_id) == "succeeded"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert_exactly_once(env, run_id, 2)


def test_a_run_with_a_live_executor_cannot_be_resumed_and_adoption_happens_once(
    tmp_path: Path,
) -> None:
    # the run waits in its second model call (TETHER_TEST_HOLD) until the rivals start, so
    # it is still going while the CLI starts up on a loaded machine
    steps = 6
    hold = tmp_path / "release"
    env = Env(
        tmp_path,
        TETHER_LEASE_S="3",
        TETHER_TEST_DELAY="0.2",
        TETHER_TEST_STEPS=str(steps),
        TETHER_TEST_HOLD=str(hold),
    )
    proc = env.spawn("run", "--agent", AGENT, "bump the counter")
    deadline = time.monotonic() + 60
    while not env.lines("effects") and time.monotonic() < deadline:
        time.sleep(0.2)
    run_id = str(env.only_run()["run_id"])
    refused = env.tether("runs", "resume", run_id)
    assert refused.returncode == 64
    assert "lease is live" in refused.stderr
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(3.5)  # let the lease expire
    hold.touch()
    rivals = [env.spawn("runs", "resume", run_id) for _ in range(2)]
    codes = sorted(p.wait(timeout=120) for p in rivals)
    assert codes == [0, 64], [env.output(p) for p in rivals]
    assert env.only_run()["status"] == "succeeded"
    assert env.lines("effects") == [str(n) for n in range(steps)]


PLANTED_SECRET = "sk-live-4c0ffee4c0ffee4c0ffee4c0ffee4c0f"
PLANTED_PII = "jane.doe@example.com"


def _decodings(value: str) -> list[bytes]:
    out = [value.encode()]
    for token in re.findall(r"[A-Za-z0-9+/=_-]{16,}", value):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                out.append(decode(token + "=" * (-len(token) % 4)))
            except (binascii.Error, ValueError):
                pass
    return out


def test_planted_secret_and_pii_are_in_no_table_and_no_wal(tmp_path: Path) -> None:
    env = Env(tmp_path, TETHER_TEST_PLANT=f"key {PLANTED_SECRET} mail {PLANTED_PII}")
    out = env.tether("run", "--agent", AGENT, "bump the counter")
    assert out.returncode == 0, out.stderr[-2000:]
    db = tmp_path / "home" / "tether.db"
    raw = b"".join(p.read_bytes() for p in db.parent.glob("tether.db*"))
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert {"tether_events", "operation_outputs", "workflow_status"} <= set(tables)
    scanned = 0
    for table in tables:
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            for value in row:
                text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                for blob in _decodings(text):
                    scanned += 1
                    assert PLANTED_SECRET.encode() not in blob, table
                    assert PLANTED_PII.encode() not in blob, table
    conn.close()
    assert scanned > 100
    for planted in (PLANTED_SECRET, PLANTED_PII):
        assert planted.encode() not in raw
        assert base64.b64encode(planted.encode()) not in raw
    assert b"REDACTED" in raw


def test_cancel_stops_a_live_run_before_its_next_step(tmp_path: Path) -> None:
    hold = tmp_path / "release"  # the run waits in its second model call until the cancel
    env = Env(
        tmp_path,
        TETHER_LEASE_S="5",
        TETHER_TEST_DELAY="0.2",
        TETHER_TEST_STEPS="15",
        TETHER_TEST_HOLD=str(hold),
    )
    proc = env.spawn("run", "--agent", AGENT, "bump the counter")
    deadline = time.monotonic() + 60
    while not env.lines("effects") and time.monotonic() < deadline:
        time.sleep(0.1)
    run_id = str(env.only_run()["run_id"])
    out = env.tether("runs", "cancel", run_id)
    hold.touch()
    assert out.returncode == 4, out.stderr  # exit code of a cancelled run
    assert proc.wait(timeout=60) == 4, env.output(proc)
    assert env.only_run()["status"] == "cancelled"
    assert len(env.lines("effects")) < 15
    assert env.events(run_id)[-1]["kind"] == "run_finished"
    again = env.tether("runs", "resume", run_id)
    assert again.returncode == 64 and "already cancelled" in again.stderr


def test_cancel_of_a_dead_run_ends_it_and_nothing_resumes_it(tmp_path: Path) -> None:
    env = Env(tmp_path)
    run_id = crash(env, "model:1")
    time.sleep(2.0)
    out = env.tether("runs", "cancel", run_id)
    assert out.returncode == 4, out.stderr
    worker = env.spawn("worker", "--adopt-expired", "--grace", "2")
    time.sleep(4)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    assert env.only_run()["status"] == "cancelled"
    assert env.lines("effects") == ["0"]
    assert [e["kind"] for e in env.events(run_id)].count("run_finished") == 1


def test_fork_reexecutes_from_a_step_into_a_new_run(tmp_path: Path) -> None:
    env = Env(tmp_path)
    first = env.tether("run", "--agent", AGENT, "bump the counter", "--json")
    assert first.returncode == 0, first.stderr
    source = json.loads(first.stdout)["run_id"]
    out = env.tether("runs", "fork", source, "--from", "3", "--json")
    assert out.returncode == 0, out.stderr
    forked = json.loads(out.stdout)
    assert forked["run_id"] != source and forked["status"] == "succeeded"
    # steps 1-2 were copied from the journal; steps 3-4 ran again
    assert env.lines("effects") == ["0", "1", "2", "3", "2", "3"]
    kinds = [(e["step"], e["kind"]) for e in env.events(forked["run_id"])]
    assert kinds.count((1, "tool_call_finished")) == 1
    assert kinds[-1][1] == "run_finished"


def test_detached_runs_are_executed_by_a_worker(tmp_path: Path) -> None:
    env = Env(tmp_path)
    queued = [
        env.tether("run", "--agent", AGENT, f"bump {i}", "--detach", "--json") for i in range(2)
    ]
    assert all(q.returncode == 0 for q in queued), [q.stderr for q in queued]
    run_ids = [json.loads(q.stdout)["run_id"] for q in queued]
    listed = json.loads(env.tether("runs", "list", "--json").stdout)
    assert {r["status"] for r in listed} == {"queued"}
    worker = env.spawn("worker", "--executor-id", "w1", "--concurrency", "2", "--grace", "5")
    try:
        for run_id in run_ids:
            assert env.wait_status(run_id) == "succeeded"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, env.output(worker)
    assert sorted(env.lines("effects")) == sorted([str(n) for n in range(STEPS)] * 2)


def test_a_worker_that_cannot_renew_its_lease_stops_itself(tmp_path: Path) -> None:
    """Fail-stop: once another worker could have adopted its runs, a worker must not go on."""
    env = Env(tmp_path)
    worker = env.spawn("worker", "--executor-id", "w-lost")
    db = tmp_path / "home" / "tether.db"
    deadline = time.monotonic() + 60
    while "ready" not in env.output(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    conn = sqlite3.connect(db, timeout=10)
    conn.execute("ALTER TABLE tether_executors RENAME TO tether_executors_gone")
    conn.commit()
    conn.close()
    assert worker.wait(timeout=60) == 75, env.output(worker)
    assert "could not renew its lease" in env.output(worker)


def test_lease_lapsed_decision() -> None:
    from tether.durable.engine import lease_lapsed

    assert not lease_lapsed(100.0, 101.0, 1.5)
    assert lease_lapsed(100.0, 101.5, 1.5)
    assert lease_lapsed(100.0, 200.0, 15)
