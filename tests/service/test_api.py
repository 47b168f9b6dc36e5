"""The HTTP API against a real server on 127.0.0.1: keys, scopes, runs, events, approvals, and
tenant isolation checked on every route of the OpenAPI document."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.governance.test_approvals import agent as support_agent
from tests.governance.test_approvals import runtime as governed_runtime
from tests.service.server import client, serving
from tether import Runtime
from tether.memory import LocalEmbedder, MemoryItem
from tether.service import SCOPES, KeyStore, Service, create_app
from tether.testing import ScriptedModel, answer, call
from tether.types import RunStatus

ALL = list(SCOPES)
# signed by a trigger's secret, not an API key: tests/service/test_webhooks.py; a trigger's
# tenant is in its declaration, so no caller chooses it
WEBHOOKS = "/v1/triggers/"


@dataclass
class Api:
    base: str
    rt: Runtime
    keys: KeyStore
    b_run: str  # a run of tenant "beta" (queued)
    b_approval: str  # an approval of tenant "beta" (pending)
    b_item: str  # a memory item of tenant "beta" (about the subject B_SUBJECT)

    def key(self, tenant: str, *scopes: str) -> str:
        return self.keys.create(tenant, scopes or ALL, name=f"{tenant}-test")[1]


B_SUBJECT = "bob@example.com"
B_MEMORY = "Beta ships the harbour release on friday"


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def api(tmp_path: Path, embedder: LocalEmbedder) -> Iterator[Api]:
    model = ScriptedModel(steps=[call("delete_account", account="a-17"), answer("deleted")])
    rt = governed_runtime(tmp_path, model)
    rt.embedder = embedder
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "echoer.yaml").write_text("name: echoer\nmodel: scripted\ntools: [calculator]\n")
    paused = rt.run_sync(support_agent(), "close a-17", tenant="beta")
    assert paused.status is RunStatus.PAUSED
    (approval,) = rt.store.approvals.list(tenant="beta")
    svc = Service(runtime=rt, agents_dir=agents)
    item = MemoryItem(text=B_MEMORY, subject=B_SUBJECT, source="fixture", end=len(B_MEMORY))
    [b_item] = svc.memory().add("beta", [item])
    with serving(create_app(svc)) as base:
        with client(base, svc.keys.create("beta", ["runs:write"])[1]) as beta:
            created = beta.post("/v1/runs", json={"agent": "echoer", "goal": "add 1 and 2"})
            assert created.status_code == 202, created.text
        yield Api(base, rt, svc.keys, created.json()["run_id"], approval.id, b_item)


def test_keys_are_hashed_at_rest_and_revocable(api: Api, tmp_path: Path) -> None:
    key = api.key("alpha", "runs:read")
    with client(api.base, key) as c:
        assert c.get("/v1/runs").status_code == 200
    raw = (tmp_path / "home" / "tether.db").read_bytes()
    wal = tmp_path / "home" / "tether.db-wal"
    secret = key.rsplit("_", 1)[1].encode()
    assert secret not in raw and (not wal.exists() or secret not in wal.read_bytes())
    api.keys.revoke(key.split("_")[1])
    with client(api.base, key) as c:
        assert c.get("/v1/runs").status_code == 401


def test_no_key_a_bad_key_and_a_missing_scope_are_refused(api: Api) -> None:
    with client(api.base) as c:
        r = c.get("/v1/runs")
        assert r.status_code == 401 and "tether keys create" in r.json()["detail"]
    with client(api.base, "tk_000000000000_" + "x" * 43) as c:
        assert c.get("/v1/runs").status_code == 401
    with client(api.base, api.key("alpha", "runs:read")) as c:
        r = c.post("/v1/runs", json={"goal": "hi"})
        assert r.status_code == 403 and "runs:write" in r.json()["detail"]
        assert c.get("/v1/approvals").status_code == 403


def test_a_run_is_created_for_the_keys_tenant_and_read_back(api: Api) -> None:
    with client(api.base, api.key("alpha")) as c:
        r = c.post("/v1/runs", json={"agent": "echoer", "goal": "add 2 and 2"})
        assert r.status_code == 202 and r.json()["status"] == "queued"
        run_id = r.json()["run_id"]
        got = c.get(f"/v1/runs/{run_id}").json()
        assert got["tenant"] == "alpha" and got["status"] == "queued"
        assert got["goal"] == "add 2 and 2" and "costs" in got
        assert [x["run_id"] for x in c.get("/v1/runs").json()] == [run_id]


def test_bad_requests_name_the_field(api: Api) -> None:
    with client(api.base, api.key("alpha")) as c:
        r = c.post("/v1/runs", json={"agent": "echoer"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "goal"]
        r = c.post("/v1/runs", json={"agent": "../../etc/passwd", "goal": "x"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "agent"]
        r = c.post("/v1/runs", json={"agent": "nobody", "goal": "x"})
        assert r.status_code == 404 and "no agent 'nobody'" in r.json()["detail"]
        r = c.post("/v1/runs", json={"agent": "echoer", "goal": "x", "model": "nope:x"})
        assert r.status_code == 404 and "unknown model id" in r.json()["detail"]
        r = c.post("/v1/runs", json={"goal": "x", "surprise": 1})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "surprise"]
        r = c.post("/v1/approvals/x", json={"decision": "deny"})
        assert r.status_code == 422 and "reason" in r.text


def test_events_stream_as_sse_and_resume_after_last_event_id(api: Api) -> None:
    with client(api.base, api.key("beta", "runs:read")) as c:
        run = api.rt.store.runs.list(status="paused", tenant="beta")[0].id
        body = c.get(f"/v1/runs/{run}/events", params={"follow": "false"}).text
        ids = [int(line[3:].strip()) for line in body.splitlines() if line.startswith("id:")]
        kinds = [line[6:].strip() for line in body.splitlines() if line.startswith("event:")]
        assert kinds[0] == "run_started" and "approval_requested" in kinds
        assert kinds[-1] == "end" and ids == sorted(ids)
        again = c.get(
            f"/v1/runs/{run}/events",
            params={"follow": "false"},
            headers={"Last-Event-ID": str(ids[1])},
        ).text
        later = [int(line[3:].strip()) for line in again.splitlines() if line.startswith("id:")]
        assert later == ids[2:]


def test_an_approval_is_decided_over_http(api: Api) -> None:
    with client(api.base, api.key("beta", "approvals:read", "approvals:decide")) as c:
        (listed,) = c.get("/v1/approvals").json()
        assert listed["id"] == api.b_approval and listed["tool"] == "delete_account"
        r = c.post(f"/v1/approvals/{api.b_approval}", json={"decision": "deny", "reason": "no"})
        assert r.status_code == 200 and r.json()["status"] == "denied"
        assert c.get("/v1/approvals").json() == []
        again = c.post(f"/v1/approvals/{api.b_approval}", json={"decision": "approve"})
        assert again.status_code == 409


def _body(path: str, method: str) -> dict[str, Any] | None:
    """A valid body for each route that takes one; a new route must be added here."""
    bodies = {
        ("/v1/runs", "post"): {"agent": "echoer", "goal": "x"},
        ("/v1/approvals/{approval_id}", "post"): {"decision": "approve"},
        ("/v1/kill", "post"): None,
        ("/v1/runs/{run_id}/ratings", "post"): {"thumbs": "up"},
        ("/v1/memory/items", "post"): {"items": [{"text": "alpha's own note"}]},
        ("/v1/memory/forget", "post"): {"subject": B_SUBJECT},
    }
    return bodies.get((path, method))


def _params(path: str) -> dict[str, str]:
    """Query parameters a listing route needs; a new one must be added here."""
    return {"q": B_MEMORY} if path == "/v1/memory/search" else {}


def test_tenant_a_gets_404_for_every_object_of_tenant_b(api: Api) -> None:
    ids = {"run_id": api.b_run, "approval_id": api.b_approval, "item_id": api.b_item}
    with client(api.base, api.key("alpha")) as c:
        paths = c.get("/openapi.json").json()["paths"]
        checked = []
        for path, methods in paths.items():
            if "{" not in path or path.startswith(WEBHOOKS):
                continue
            for method in methods:
                names = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
                assert all(n in ids for n in names), f"no tenant-B object for {path}: add one"
                url = path.format(**ids)
                r = c.request(method.upper(), url, json=_body(path, method))
                assert r.status_code == 404, (method, path, r.status_code, r.text)
                assert api.b_run not in r.text or "no run" in r.text
                checked.append((method, path))
        assert len(checked) >= 9  # runs: get, events, cancel, resume, rate, ratings; approvals;
        # memory items
        assert ("get", "/v1/memory/items/{item_id}") in checked
        for path, methods in paths.items():
            if "{" in path or "get" not in methods or not path.startswith("/v1/"):
                continue
            r = c.get(path, params=_params(path))
            assert r.status_code == 200, (path, r.text)
            listed = r.text
            assert api.b_run not in listed and api.b_approval not in listed, path
            assert api.b_item not in listed and "harbour" not in listed, path
        # writes of tenant A's key land in tenant A: a forget of B's subject forgets nothing of B
        assert c.post("/v1/memory/forget", json=_body("/v1/memory/forget", "post")).is_success
    assert api.rt.store.runs.get(api.b_run).status is RunStatus.QUEUED  # untouched
    assert api.rt.store.approvals.get(api.b_approval).status == "pending"
    with client(api.base, api.key("beta", "memory:read")) as c:
        got = c.get(f"/v1/memory/items/{api.b_item}")
        assert got.status_code == 200 and got.json()["text"] == B_MEMORY


def test_people_rate_runs(api: Api) -> None:
    with client(api.base, api.key("beta", "runs:read")) as c:
        r = c.post(
            f"/v1/runs/{api.b_run}/ratings",
            json={"thumbs": "down", "tags": ["wrong-tool"], "correction": "mail bob@example.com"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["by"] == "api:beta-test" and "bob@example.com" not in r.text
        assert c.post(f"/v1/runs/{api.b_run}/ratings", json={}).status_code == 409
        (got,) = c.get(f"/v1/runs/{api.b_run}/ratings").json()
        assert got["thumbs"] == "down" and got["tags"] == ["wrong-tool"]


def test_kill_needs_admin_and_metrics_count_runs(api: Api) -> None:
    with client(api.base, api.key("alpha", "runs:write")) as c:
        assert c.post("/v1/kill", json={"scope": "tool", "tool": "calculator"}).status_code == 403
    with client(api.base, api.key("alpha", "admin")) as c:
        r = c.post("/v1/kill", json={"scope": "tool", "tool": "calculator", "reason": "test"})
        assert r.status_code == 200 and r.json()["scope"] == "tool"
        assert (
            c.post("/v1/kill", json={"scope": "tool", "tool": "calculator", "lift": True}).json()[
                "lifted"
            ]
            == 1
        )
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json()["status"] == "ready"
        text = c.get("/metrics").text
    assert 'tether_runs{status="queued"} 1.0' in text
    assert 'tether_runs{status="paused"} 1.0' in text
    assert "tether_approvals_pending 1.0" in text and "tether_queue_depth 1.0" in text
    conn = sqlite3.connect(api.rt.settings.home / "tether.db")
    try:
        (n,) = conn.execute("SELECT count(*) FROM tether_kill_switches").fetchone()
    finally:
        conn.close()
    assert n == 1 and json.loads(json.dumps(n)) == 1
