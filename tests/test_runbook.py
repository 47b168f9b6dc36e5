"""docs/runbook.md, followed step by step: each procedure's blocks run as written.

Each test makes a project in a temporary folder (``agents/booker.yaml``, ``tether.toml``, a
secrets file), brings about the incident with real ``tether`` processes (a run held in flight at
a known step by TETHER_TEST_HOLD, workers, ``tether serve`` on 127.0.0.1), then types the
section's commands through :class:`tests.runbook_doc.Operator`, which checks what they print
against the document and reads the placeholders' values from it. Values the document says come
from elsewhere are set by the test where the document says they come from: ``WORKER_PID`` is
the pid of the worker process the test started, ``API_KEY`` the secret of the key it made, and
``$TETHER_URL`` and ``$EDITOR`` are set in the environment.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.procs import SPAWNED
from tests.runbook_doc import Operator, section, section_titles, steps
from tests.runbook_project import fingerprint

ROOT = Path(__file__).resolve().parent.parent
OLD_SECRET = "crm-old-3b9d0c1e77aa"
NEW_SECRET = "crm-new-8f2e4a6b19cc"
AGENT = """\
name: booker
instructions: Book the seats the customer asks for.
model: python:tests.runbook_project:model
tools:
  - tests.runbook_project:book
  - tests.runbook_project:announce
  - tests.runbook_project:crm_lookup
limits: {max_steps: 10, max_tool_calls: 10}
"""


class Project:
    """A tether project in ``tmp/project``, its ``tether`` on PATH, and an operator there."""

    def __init__(self, tmp: Path, tools: str, **extra: str) -> None:
        self.tmp = tmp
        self.dir = tmp / "project"
        (self.dir / "agents").mkdir(parents=True)
        (self.dir / "agents" / "booker.yaml").write_text(AGENT)
        (self.dir / "tether.toml").write_text('secrets_file = "secrets.env"\n')
        secrets = self.dir / "secrets.env"
        secrets.write_text(f"crm_read={OLD_SECRET}\n")
        secrets.chmod(0o600)
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        shim = bin_dir / "tether"  # the installed command, on this interpreter
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tether.cli "$@"\n')
        shim.chmod(0o755)
        base = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
        self.env = base | {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(ROOT),
            "COLUMNS": "120",
            "TETHER_LEASE_S": "5",  # long enough for a starved CI machine to renew it
            "TETHER_TEST_LEDGER": str(tmp / "ledger"),
            "TETHER_TEST_TOOLS": tools,
            **extra,
        }
        self.op = Operator(cwd=self.dir, env=self.env)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: dict[int, Path] = {}

    def tether(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tether", *args],
            capture_output=True,
            text=True,
            env=self.env | extra,
            cwd=self.dir,
            timeout=180,
            check=False,
        )

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"proc-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["tether", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env | extra,
                cwd=self.dir,
            )
        SPAWNED.append(proc)
        self.procs.append(proc)
        self.logs[proc.pid] = log
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        """What a process this project started has printed so far."""
        log = self.logs.get(proc.pid) or self.op.logs[proc.pid]
        return log.read_text(errors="replace")

    def ledger(self) -> list[str]:
        path = self.tmp / "ledger"
        return path.read_text().splitlines() if path.exists() else []

    def wait_for(self, what: str, ok: object, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not ok():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"{what}: not after {timeout}s\n{self.report()}"
            time.sleep(0.1)

    def report(self) -> str:
        """What the processes printed and where the runs are, for a failure's message."""
        logs = [f"--- {p.args!r}\n{self.output(p)[-2000:]}" for p in self.procs]
        return "\n".join([f"ledger {self.ledger()}", f"runs {self.statuses()}", *logs])

    def statuses(self) -> dict[str, tuple[str, str | None]]:
        """Run id -> (status, executor id), read from the database (a cheap poll)."""
        db = self.dir / ".tether" / "tether.db"
        if not db.exists():
            return {}
        with sqlite3.connect(db, timeout=10) as conn:
            rows = conn.execute("SELECT id, status, executor_id FROM tether_runs").fetchall()
        conn.close()
        return {r[0]: (r[1], r[2]) for r in rows}

    def lease(self, executor: str) -> str | None:
        """When ``executor``'s lease expires, as stored; None once its row is gone (an
        adopting worker prunes the rows of the executors whose runs it took over)."""
        db = self.dir / ".tether" / "tether.db"
        with sqlite3.connect(db, timeout=10) as conn:
            rows = conn.execute(
                "SELECT lease_expires_at FROM tether_executors WHERE id = ?", (executor,)
            ).fetchall()
        conn.close()
        return str(rows[0][0]) if rows else None

    def detach(self, goal: str) -> str:
        out = self.tether("run", goal, "--agent", "booker", "--detach", "--json")
        assert out.returncode == 0, out.stderr
        return str(json.loads(out.stdout)["run_id"])

    def events(self, run_id: str) -> list[dict[str, object]]:
        out = self.tether("runs", "events", run_id, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def serve(self) -> str:
        """``tether serve`` on a free loopback port; its base URL once it is ready."""
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = self.spawn("serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    return base
            except httpx.TransportError:
                pass
            assert server.poll() is None, self.output(server)
            assert time.monotonic() < deadline, "tether serve did not become ready"
            time.sleep(0.2)

    def make_key(self, tenant: str, name: str, *scopes: str) -> str:
        args = [a for s in scopes for a in ("--scope", s)]
        out = self.tether("keys", "create", "--tenant", tenant, "--name", name, "--json", *args)
        assert out.returncode == 0, out.stderr
        return str(json.loads(out.stdout)["key"])


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=300)


def test_the_runbook_has_the_procedures_the_tests_follow() -> None:
    titles = section_titles()
    for title in (
        "Stop everything: the kill switch",
        "Revoke or rotate a credential",
        "Roll back side effects",
        "Roll back an agent version",
        "Drain and replace a worker",
    ):
        assert title in titles
    for title in titles:  # every block parses; console blocks start with a command
        for block in section(title):
            if block.lang in ("sh", "console"):
                assert steps(block), (title, block)


def test_stop_everything_with_the_kill_switch(tmp_path: Path) -> None:
    hold = tmp_path / "release"
    p = Project(tmp_path, "book,book", TETHER_TEST_HOLD=str(hold))
    base = p.serve()
    p.op.env["TETHER_URL"] = base
    p.op.values["API_KEY"] = p.make_key("ops", "on-call", "admin")  # "made beforehand"
    # the incident: a run in flight, held in its second model call
    running = p.spawn("run", "book two seats", "--agent", "booker")
    p.wait_for("the first booking", lambda: len(p.ledger()) == 1)
    (stop_all, seen, switches, narrower, http, lift) = [
        steps(b) for b in section("Stop everything: the kill switch")
    ]
    p.op.run(stop_all[0])
    hold.touch()
    assert running.wait(timeout=300) == 4, p.output(running)  # exit status of a killed run
    assert len(p.ledger()) == 1  # no step after the kill

    p.op.run(seen[0])
    (run_id,) = [r for r, (status, _) in p.statuses().items() if status == "killed"]
    assert p.op.values["RUN_ID"] == run_id
    p.op.run(seen[1])
    new = p.op.run(seen[2])
    assert new.returncode == 4, p.op.transcript()
    assert len(p.ledger()) == 1  # the new run did nothing
    p.op.run(switches[0])

    assert all(p.op.run(s).returncode == 0 for s in narrower), p.op.transcript()
    out = p.op.run(http[0])
    assert json.loads(out.stdout)["created"] is False
    active = json.loads(p.tether("kill", "--json").stdout)
    assert sorted((s["scope"], s["target"]) for s in active) == [
        ("agent", "booker"),
        ("global", ""),
        ("tool", "announce"),
    ], active
    for step in lift:
        assert p.op.run(step).returncode == 0, p.op.transcript()
    assert p.statuses()[run_id][0] == "killed"  # a kill is final


def test_rotate_and_revoke_a_tool_credential_and_an_api_key(tmp_path: Path) -> None:
    hold = tmp_path / "release"
    editor = tmp_path / "bin" / "edit-secrets"
    p = Project(tmp_path, "crm_lookup,crm_lookup", TETHER_TEST_HOLD=str(hold))
    editor.write_text(f'#!/bin/sh\nsed -i "s/^crm_read=.*/crm_read={NEW_SECRET}/" "$1"\n')
    editor.chmod(0o755)
    p.op.env["EDITOR"] = str(editor)
    worker = p.spawn("worker", "--executor-id", "worker-a")
    run_id = p.detach("look up customers 0 and 1")
    p.wait_for("the first lookup", lambda: len(p.ledger()) == 1)
    tool_blocks = section("Revoke or rotate a credential")
    rotate, revoke, lift = (steps(b) for b in tool_blocks[:3])
    for step in rotate:
        assert p.op.run(step).returncode == 0, p.op.transcript()
    hold.touch()
    p.wait_for("the run", lambda: p.statuses()[run_id][0] == "succeeded")
    first, second = (line.split() for line in p.ledger())
    assert first[2] == fingerprint(OLD_SECRET) and second[2] == fingerprint(NEW_SECRET)
    assert first[4] == second[4] == str(worker.pid)  # the same worker, not restarted
    assert (p.dir / "secrets.env").stat().st_mode & 0o077 == 0

    for step in revoke:
        assert p.op.run(step).returncode == 0, p.op.transcript()
    killed = p.detach("look up customer 0 while the tool is killed")
    p.wait_for("the killed-tool run", lambda: p.statuses()[killed][0] == "succeeded")
    for step in lift:
        assert p.op.run(step).returncode == 0, p.op.transcript()
    unset = p.detach("look up customer 0 with no credential")
    p.wait_for("the no-credential run", lambda: p.statuses()[unset][0] == "succeeded")
    assert len(p.ledger()) == 2  # neither run's tool ran with a value
    errors = [
        str(e["payload"]["error"])  # type: ignore[index]
        for run in (killed, unset)
        for e in p.events(run)
        if e["kind"] == "tool_call_finished"
    ]
    assert "tool_killed" in errors[0] and "crm_read revoked" in errors[0], errors
    assert "secret 'crm_read'" in errors[2] and "is not set" in errors[2], errors
    assert stop(worker) == 0, p.output(worker)

    # the service's API keys
    base = p.serve()
    p.op.env["TETHER_URL"] = base
    p.op.values["API_KEY"] = p.make_key("acme", "ci", "runs:read", "runs:write")
    old_key = {"Authorization": "Bearer " + p.op.values["API_KEY"]}
    assert httpx.get(f"{base}/v1/runs", headers=old_key, timeout=30).status_code == 200
    for block in tool_blocks[3:]:
        for step in steps(block):
            assert p.op.run(step).returncode == 0, p.op.transcript()
    listed = json.loads(p.tether("keys", "list", "--json").stdout)
    assert sorted((k["name"], k["revoked_at"] is not None) for k in listed) == [
        ("ci", True),
        ("ci-2", False),
    ]


def test_roll_back_side_effects(tmp_path: Path) -> None:
    hold = tmp_path / "release"
    p = Project(
        tmp_path,
        "book,announce,book,book",
        TETHER_TEST_HOLD=str(hold),
        TETHER_TEST_HOLD_AT="3",
    )
    running = p.spawn("run", "book seats 0 to 3 and announce seat 1", "--agent", "booker")
    p.wait_for("three writes", lambda: len(p.ledger()) == 3)
    find, cancel, compensate, journal, again = (steps(b) for b in section("Roll back side effects"))
    p.op.run(find[0])
    assert p.op.run(cancel[0]).returncode == 4, p.op.transcript()
    hold.touch()
    assert running.wait(timeout=300) == 4, p.output(running)
    assert p.op.run(compensate[0]).returncode == 1, p.op.transcript()
    p.op.run(journal[0])
    assert p.op.run(again[0]).returncode == 1, p.op.transcript()
    ledger = [line.split()[:2] for line in p.ledger()]
    assert ledger == [
        ["book", "0"],
        ["announce", "1"],
        ["book", "2"],
        ["unbook", "2"],
        ["unbook", "0"],
    ]  # seat 3 never booked; each booking undone once, newest first


def test_drain_and_replace_a_worker(tmp_path: Path) -> None:
    hold_a, hold_c = tmp_path / "release-a", tmp_path / "release-c"
    p = Project(tmp_path, "book,book", TETHER_WORKER_CONCURRENCY="1")
    # the incident: worker-a is to be replaced; worker-c dies; one run waits in the queue
    worker_a = p.spawn("worker", "--executor-id", "worker-a", TETHER_TEST_HOLD=str(hold_a))
    worker_c = p.spawn("worker", "--executor-id", "worker-c", TETHER_TEST_HOLD=str(hold_c))
    runs = [p.detach("book seats 0 and 1"), p.detach("book seats 0 and 1 again")]

    def held() -> dict[str, str]:
        return {e: r for r, (status, e) in p.statuses().items() if e and status == "running"}

    p.wait_for("a run held in each worker", lambda: set(held()) == {"worker-a", "worker-c"})
    p.wait_for("their first bookings", lambda: len(p.ledger()) == 2)
    in_c = held()["worker-c"]
    runs.append(p.detach("book seats 0 and 1 once more"))
    worker_c.kill()  # died
    worker_c.wait(timeout=60)

    planned = section("Drain and replace a worker")
    start_b, sigterm, log_lines, verify = planned
    (start,) = steps(start_b)
    worker_b = p.op.spawn(start)
    p.op.values["WORKER_PID"] = str(worker_a.pid)
    (term,) = steps(sigterm)
    assert p.op.run(term).returncode == 0
    # draining (its run still held): worker-a goes on renewing its lease, so worker-b, which
    # adopts expired leases, cannot take the run over while worker-a still executes it
    p.wait_for("worker-a stopping", lambda: "worker worker-a stopping" in p.output(worker_a))
    draining = p.lease("worker-a")
    assert draining is not None
    p.wait_for("a renewed lease while draining", lambda: p.lease("worker-a") != draining)
    assert p.lease("worker-a") is not None, p.report()  # renewed, not taken over
    hold_a.touch()
    assert worker_a.wait(timeout=300) == 0, p.output(worker_a)
    after_ready = p.output(worker_a).split("worker worker-a ready", 1)[1]
    p.op.match(log_lines.lines, after_ready, where="worker-a's log")
    p.wait_for(
        "every run",
        lambda: all(p.statuses()[r][0] not in ("queued", "running") for r in runs),
    )
    assert f"adopted {in_c}" in p.output(worker_b)
    for step in steps(verify)[:3]:
        p.op.run(step)
    per_run = steps(verify)[3]
    for run in runs:
        p.op.values["RUN_ID"] = run
        p.op.run(per_run)
    assert {p.statuses()[r][0] for r in runs} == {"succeeded"}
    assert stop(worker_b) == 0, p.output(worker_b)
    booked = sorted(line.split()[2] for line in p.ledger())
    assert len(booked) == 6 and len(set(booked)) == 6  # two bookings per run, each once


def test_the_operator_checks_output_and_reads_placeholders(tmp_path: Path) -> None:
    op = Operator(cwd=tmp_path, env=dict(os.environ))
    op.match(("KEY_ID live acme runs:read", "…"), "k_1  live  acme  runs:read\nmore\n", where="x")
    assert op.values == {"KEY_ID": "k_1"}
    assert op.fill("tether keys revoke KEY_ID") == "tether keys revoke k_1"
    with pytest.raises(AssertionError, match="the runbook shows"):
        op.match(("KEY_ID revoked",), "k_2 revoked\n", where="x")  # bound: must be k_1
    with pytest.raises(AssertionError, match="used before"):
        op.fill("tether runs show RUN_ID")
    with pytest.raises(AssertionError, match="unknown placeholder"):
        op.fill("tether runs show JOB_ID")
