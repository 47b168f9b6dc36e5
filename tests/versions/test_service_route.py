"""POST /v1/runs on a real server runs the agent's registered current version, and a
rollback changes what the next request gets without touching the agent's file."""

from __future__ import annotations

from pathlib import Path

from tests.service.server import client, serving
from tests.versions.helpers import agent_yaml, make_project
from tether.agent.spec import load_agent
from tether.runtime import Runtime
from tether.service import Service, create_app
from tether.settings import Settings
from tether.versions import VersionStore


def test_service_runs_the_current_version_and_follows_a_rollback(tmp_path: Path) -> None:
    make_project(tmp_path, model="good")
    (tmp_path / "old.yaml").write_text(agent_yaml("some"))
    old, new = load_agent(tmp_path / "old.yaml"), load_agent(tmp_path / "agents/support.yaml")
    settings = Settings(home=tmp_path / "home", workspace=tmp_path)
    rt = Runtime(settings=settings, durable=True, route_versions=True)
    vs = VersionStore(rt.store.engine)
    for a in (old, new):
        vs.register(a, by="test")
    vs.promote("support", old.version, by="test")
    svc = Service(runtime=rt, agents_dir=tmp_path / "agents")
    versions = []
    with serving(create_app(svc)) as base:
        with client(base, svc.keys.create("acme", ["runs:write", "runs:read"])[1]) as c:
            for change in (None, new.version, "rollback"):
                if change == "rollback":
                    vs.rollback("support", by="test")
                elif change is not None:
                    vs.promote("support", change, by="test")
                r = c.post("/v1/runs", json={"agent": "support", "goal": "What is 6*7?"})
                assert r.status_code == 202, r.text
                got = c.get(f"/v1/runs/{r.json()['run_id']}")
                assert got.status_code == 200, got.text
                versions.append(rt.store.runs.get(r.json()["run_id"]).agent_version)
    # the file (agents/support.yaml) is the new version all along
    assert versions == [old.version, new.version, old.version]
