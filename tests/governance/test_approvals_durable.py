"""Approvals with real processes: a paused run holds no worker, survives SIGKILL of every
tether process, and goes on when `tether approvals approve|deny` (a subprocess) decides.

The model (``tests.governance.agent_tools:review_model``) asks to wipe record 0, then answers
from the tool's result, logging every result it sees; the tool logs each effect to a file.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_durable import Env

AGENT = """name: wiper
instructions: Wipe duplicate records.
model: python:tests.governance.agent_tools:review_model
tools: ["tests.governance.agent_tools:wipe"]
"""


def setup(tmp: Path, **extra: str) -> tuple[Env, str]:
    (tmp / "policies").mkdir()
    (tmp / "wiper.yaml").write_text(AGENT)
    env = Env(
        tmp,
        TETHER_POLICIES=str(tmp / "policies"),
        TETHER_TEST_SEEN=str(tmp / "seen"),
        **extra,
    )
    return env, str(tmp / "wiper.yaml")


def workflow_status(env: Env, workflow_id: str) -> str | None:
    conn = sqlite3.connect(env.tmp / "home" / "tether.db")
    try:
        row = conn.execute(
            "SELECT status FROM workflow_status WHERE workflow_uuid = ?", (workflow_id,)
        ).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def workflow_finished(env: Env, workflow_id: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while workflow_status(env, workflow_id) != "SUCCESS":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def only_approval(env: Env, *args: str) -> dict[str, object]:
    out = env.tether("approvals", "list", "--json", *args)
    assert out.returncode == 0, out.stderr
    (approval,) = json.loads(out.stdout)
    return approval  # type: ignore[no-any-return]


def stop(env: Env, proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 0, env.output(proc)


def pause_on_a_worker(env: Env, agent: str) -> str:
    """A detached run executed by a worker until it pauses; then SIGKILL the worker."""
    worker = env.spawn("worker", "--executor-id", "w1")
    try:
        out = env.tether("run", "--detach", "--json", "--agent", agent, "wipe duplicates")
        assert out.returncode == 0, out.stderr
        run_id = str(json.loads(out.stdout)["run_id"])
        assert env.wait_status(run_id) == "paused"
        # no worker holds the run: its segment's workflow is over (DBOS records that just
        # after the run's status is written), and nothing ran
        assert workflow_finished(env, f"{run_id}:seg0")
    finally:
        worker.kill()  # SIGKILL: every tether process is gone now
        worker.wait(timeout=30)
    assert env.lines("effects") == []
    return run_id


@pytest.mark.parametrize("edit", [None, '{"n": 7}'])
def test_an_approval_survives_a_restart(tmp_path: Path, edit: str | None) -> None:
    env, agent = setup(tmp_path)
    run_id = pause_on_a_worker(env, agent)
    approval = only_approval(env)
    assert approval["status"] == "pending" and approval["tool"] == "wipe"
    assert approval["arguments"] == {"n": 0} and approval["run_id"] == run_id
    assert approval["stated_reason"] == "record 0 duplicates record 1"
    shown = env.tether("approvals", "show", str(approval["id"]))
    assert "record 0 duplicates record 1" in shown.stdout and '"n": 0' in shown.stdout
    worker = env.spawn("worker", "--executor-id", "w2")  # a fresh worker
    try:
        args = ["--edit", edit] if edit else []
        out = env.tether("approvals", "approve", str(approval["id"])[:12], "--by", "alice", *args)
        assert out.returncode == 0, out.stderr
        assert "approved" in out.stdout and "queued" in out.stdout
        assert env.wait_status(run_id) == "succeeded"
    finally:
        stop(env, worker)
    n = 7 if edit else 0
    assert env.lines("effects") == [f"wiped {n}"]  # once, with the approved arguments
    assert [json.loads(line) for line in env.lines("seen")] == [{"wiped": n}]
    assert workflow_finished(env, f"{run_id}:seg1")
    shown_json = json.loads(env.tether("approvals", "show", str(approval["id"]), "--json").stdout)
    assert shown_json["status"] == "approved" and shown_json["approved_by"] == ["alice"]
    events = env.events(run_id)
    assert [e["kind"] for e in events].count("approval_decided") == 1
    assert env.only_run()["output"] == "wiped"
    trace = env.tether("runs", "show", run_id).stdout
    assert "approval approved by alice" in trace and "status succeeded" in trace


def test_a_denial_reaches_the_agent_after_a_restart(tmp_path: Path) -> None:
    env, agent = setup(tmp_path)
    run_id = pause_on_a_worker(env, agent)
    approval = only_approval(env)
    worker = env.spawn("worker", "--executor-id", "w2")
    try:
        out = env.tether(
            "approvals", "deny", str(approval["id"]), "--reason", "record 1 is gone", "--by", "bo"
        )
        assert out.returncode == 0, out.stderr
        assert env.wait_status(run_id) == "succeeded"
    finally:
        stop(env, worker)
    assert env.lines("effects") == []  # the tool never ran
    (seen,) = [json.loads(line) for line in env.lines("seen")]
    assert seen["error"]["code"] == "approval_denied"
    assert seen["error"]["reason"] == "record 1 is gone"
    assert env.only_run()["output"] == "stopped: not approved"


def test_deciding_needs_a_reason_and_an_open_approval(tmp_path: Path) -> None:
    env, agent = setup(tmp_path)
    env.tether("run", "--agent", agent, "wipe duplicates")
    approval = only_approval(env)
    out = env.tether("approvals", "deny", str(approval["id"]), "--reason", " ", "--by", "bo")
    assert out.returncode == 64 and "needs a reason" in out.stderr
    bad = env.tether("approvals", "approve", str(approval["id"]), "--edit", '{"n": "x"}')
    assert bad.returncode == 64 and "$.n" in bad.stderr and "nothing was changed" in bad.stderr
    assert only_approval(env)["status"] == "pending"
    resumed = env.tether("runs", "resume", str(approval["run_id"]))
    assert resumed.returncode == 64 and "waits for approval" in resumed.stderr
    assert env.only_run()["status"] == "paused"
    missing = env.tether("approvals", "show", "apr_nope")
    assert missing.returncode == 64 and "no approval 'apr_nope'" in missing.stderr


def wait_until_not(env: Env, run_id: str, status: str, timeout: float = 90) -> str:
    """The run's status once it is neither open nor ``status``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = env.wait_status(run_id)
        if now != status:
            return now
        time.sleep(0.5)
    pytest.fail(f"run {run_id} stayed {status} for {timeout}s")


def faulty_run(env: Env, agent: str, point: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.governance.faulty_cli", "run", "--agent", agent, "wipe"],
        capture_output=True,
        text=True,
        env=env.vars | {"TETHER_TEST_KILL": point},
        timeout=120,
        check=False,
        cwd=env.tmp,
    )


@pytest.mark.parametrize("point", ["after_request", "before_paused"])
def test_a_crash_while_recording_the_pause_loses_nothing(tmp_path: Path, point: str) -> None:
    env, agent = setup(tmp_path, TETHER_EXECUTOR_ID="exec-pauser")
    out = faulty_run(env, agent, point)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    run = env.only_run()
    assert run["status"] == "running"  # the pause was not fully recorded
    approval = only_approval(env)  # but the request is: it committed with its journal events
    assert approval["status"] == "pending"
    if point == "after_request":
        # decided before the run is paused: kept, and the run goes on once it is paused
        out = env.tether("approvals", "approve", str(approval["id"]), "--by", "alice")
        assert out.returncode == 0, out.stderr
    worker = env.spawn("worker", "--executor-id", "exec-pauser")  # recovers its own run
    try:
        if point == "before_paused":
            assert env.wait_status(str(run["run_id"])) == "paused"
            assert len(json.loads(env.tether("approvals", "list", "--json").stdout)) == 1
            out = env.tether("approvals", "approve", str(approval["id"]), "--by", "alice")
            assert out.returncode == 0, out.stderr
        # paused first, then reopened by the worker's sweep (after_request) or the approval
        assert wait_until_not(env, str(run["run_id"]), "paused") == "succeeded"
    finally:
        stop(env, worker)
    assert env.lines("effects") == ["wiped 0"]
    all_approvals = json.loads(env.tether("approvals", "list", "--status", "all", "--json").stdout)
    assert [a["status"] for a in all_approvals] == ["approved"]
    events = env.events(str(run["run_id"]))
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    kinds = [e["kind"] for e in events]
    assert kinds.count("approval_requested") == 1 and kinds.count("approval_decided") == 1


ARCHIVER = """name: archiver
instructions: Archive old records.
model: python:tests.governance.agent_tools:review_model
tools: ["tests.governance.agent_tools:archive", "tests.governance.agent_tools:wipe"]
"""
ARCHIVE_POLICY = """
@id("records.archive_needs_a_person")
@reason("archiving needs a person")
forbid (principal, action == Action::"invoke_unattended", resource == Tool::"archive");
"""


def test_batch_approval_from_the_cli_runs_here(tmp_path: Path) -> None:
    env, _ = setup(tmp_path, TETHER_TEST_TOOL="archive")
    (tmp_path / "policies" / "records.cedar").write_text(ARCHIVE_POLICY)
    (tmp_path / "archiver.yaml").write_text(ARCHIVER)
    for _ in range(2):
        out = env.tether("run", "--agent", str(tmp_path / "archiver.yaml"), "archive")
        assert out.returncode == 2, out.stderr  # paused
    env.tether("run", "--agent", str(tmp_path / "archiver.yaml"), "wipe", TETHER_TEST_TOOL="wipe")
    listed = json.loads(env.tether("approvals", "list", "--json").stdout)
    assert sorted(a["tool"] for a in listed) == ["archive", "archive", "wipe"]
    out = env.tether(
        "approvals", "approve", "--all-pending", "--tool", "archive", "--by", "ops", "--run-here"
    )
    assert out.returncode == 0, out.stderr
    assert env.lines("effects") == ["archived 0", "archived 0"]
    left = json.loads(env.tether("approvals", "list", "--json").stdout)
    assert [a["tool"] for a in left] == ["wipe"]  # high-risk calls are never batched
    refused = env.tether("approvals", "approve", "--all-pending", "--by", "ops")
    assert refused.returncode == 64 and "no open tier-1 approvals" in refused.stderr
    runs = json.loads(env.tether("runs", "list", "--json").stdout)
    assert sorted(r["status"] for r in runs) == ["paused", "succeeded", "succeeded"]
