"""The service end to end with real processes: `tether serve` and `tether worker` on 127.0.0.1.

A run created over HTTP is executed by the worker, pauses for a tier-2 call (the high-risk
``wipe``), is approved over HTTP while the client follows its events as server-sent events, and
finishes; the stream ends with the final status and the journal holds the decision once.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from tests.governance.test_approvals_durable import AGENT
from tests.governance.test_approvals_durable import stop as stop_process
from tests.test_durable import Env

SCOPES = ["runs:read", "runs:write", "approvals:read", "approvals:decide"]


def create_key(env: Env, name: str, scopes: list[str], tenant: str = "acme") -> str:
    """A new API key through `tether keys create` (its plaintext)."""
    scope_args = [a for s in scopes for a in ("--scope", s)]
    out = env.tether("keys", "create", "--tenant", tenant, "--name", name, "--json", *scope_args)
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["key"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, proc_alive: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc_alive(), "tether serve exited"  # type: ignore[operator]
        time.sleep(0.2)
    raise AssertionError("tether serve did not become ready")


def sse(lines: list[str]) -> list[tuple[str, dict[str, object]]]:
    """(event, data) pairs of a stream's lines."""
    out, kind = [], ""
    for line in lines:
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            out.append((kind, json.loads(line[5:].strip())))
    return out


def test_a_run_created_over_http_is_approved_over_http_and_finishes(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "wiper.yaml").write_text(AGENT)
    env = Env(
        tmp_path,
        TETHER_POLICIES=str(tmp_path / "policies"),
        TETHER_TEST_SEEN=str(tmp_path / "seen"),
    )
    key = create_key(env, "ops", SCOPES)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = env.spawn("serve", "--port", str(port), "--agents", str(tmp_path / "agents"))
    worker = env.spawn("worker", "--executor-id", "w1")
    try:
        wait_ready(base, lambda: server.poll() is None)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            r = c.post("/v1/runs", json={"agent": "wiper", "goal": "wipe duplicates"})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            seen: list[str] = []
            with c.stream("GET", f"/v1/runs/{run_id}/events") as stream:
                lines = stream.iter_lines()  # one iterator: the stream is read once
                for line in lines:
                    seen.append(line)
                    if line.startswith("event:") and "approval_requested" in line:
                        break
                approvals = c.get("/v1/approvals").json()
                (approval,) = approvals
                assert approval["tool"] == "wipe" and approval["run_id"] == run_id
                decided = c.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"})
                assert decided.status_code == 200 and decided.json()["status"] == "approved"
                seen.extend(lines)  # to the end: the server closes it once the run is final
            events = sse(seen)
            assert events[-1] == ("end", {"status": "succeeded"})
            kinds = [k for k, _ in events]
            assert kinds[0] == "run_started" and kinds.count("approval_decided") == 1
            assert kinds.count("run_finished") == 1
            final = c.get(f"/v1/runs/{run_id}").json()
            assert final["status"] == "succeeded" and final["tenant"] == "acme"
            assert final["output"] == "wiped"
    finally:
        stop_process(env, worker)
        server.terminate()
        server.wait(timeout=30)
    assert env.lines("effects") == ["wiped 0"]  # once, after the approval
    journal = env.events(run_id)
    decided_events = [e for e in journal if e["kind"] == "approval_decided"]
    assert len(decided_events) == 1 and "api:ops" in json.dumps(decided_events[0])
