"""AC2 (issue 12): a canary at 20% whose candidate fails more often is stopped automatically,
and the remaining runs go to the current version.

The canary is started and inspected with real `tether` processes; the many runs it needs are
made in process on the same SQLite file (a runtime that routes by name, as `tether run --agent
NAME` and workers do), and the last ones again by `tether run` processes.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.versions.helpers import agent_yaml, make_project, tether_json
from tether.agent.spec import load_agent
from tether.runtime import Runtime
from tether.settings import Settings
from tether.store.schema import canary_runs
from tether.versions import VersionStore


def _runtime(tmp_path: Path) -> Runtime:
    settings = Settings(home=tmp_path / "home", workspace=tmp_path)
    return Runtime(settings=settings, route_versions=True)


def test_failing_canary_stops_itself_and_later_runs_get_the_current_version(
    tmp_path: Path,
) -> None:
    make_project(tmp_path, model="good")
    current = tether_json(tmp_path, "agents", "promote", "support", "--skip-evals")
    v_good = current["candidate_version"]
    (tmp_path / "candidate.yaml").write_text(agent_yaml("flaky"))
    started = tether_json(
        tmp_path,
        "agents", "canary", "support", "--file", "candidate.yaml", "--share", "0.2",
        "--tenant", "acme", "--max-drop", "0.1", "--min-runs", "3",
        "--max-latency-increase", "1000",  # judged on success rate alone: latency is noise here
        "--skip-evals",  # its evals would refuse it (tests/versions/test_tenant_releases.py)
    )  # fmt: skip
    v_flaky = started["candidate_version"]
    assert started["canary_state"] == "running" and started["canary_share"] == 0.2
    assert started["tenant"] == "acme" and v_flaky != v_good

    rt = _runtime(tmp_path)
    agent = load_agent(tmp_path / "agents" / "support.yaml")  # the file: the good version
    versions = VersionStore(rt.store.engine)
    seen: dict[str, int] = {}
    try:
        other = rt.run_sync(agent, "task 1", tenant="globex")  # not the canary's tenant
        assert rt.store.runs.get(other.run_id).agent_version == v_good
        for n in range(300):
            result = rt.run_sync(agent, f"task {n}", tenant="acme")
            version = rt.store.runs.get(result.run_id).agent_version
            seen[version] = seen.get(version, 0) + 1
            channel = versions.channel("support", "acme")
            assert channel is not None
            if channel.canary_state == "stopped":
                break
        assert channel.canary_state == "stopped", seen
        assert "success rate" in (channel.canary_reason or "")
        assert set(seen) == {v_good, v_flaky}
        with rt.store.engine.connect() as conn:
            routed = conn.scalar(sa.select(sa.func.count()).select_from(canary_runs))
        assert routed == sum(seen.values())  # the other tenant's run was not routed
        after = [rt.run_sync(agent, f"task {n}", tenant="acme") for n in (0, 2, 4, 6, 8)]
        assert {rt.store.runs.get(r.run_id).agent_version for r in after} == {v_good}
        assert {r.status.value for r in after} == {"succeeded"}  # the failing goals pass now
    finally:
        rt.close()

    status = tether_json(tmp_path, "agents", "canary", "support", "--tenant", "acme")
    assert status["canary_state"] == "stopped"
    arms = status["arms"]
    assert arms["candidate"]["runs"] >= 3 and arms["current"]["runs"] >= 3
    assert arms["candidate"]["success_rate"] < arms["current"]["success_rate"] == 1.0
    for n in (2, 4):  # `tether run` processes after the stop: the current version, succeeding
        ran = tether_json(tmp_path, "run", f"task {n}", "--agent", "support", "--tenant", "acme")
        assert ran["status"] == "succeeded"
        assert tether_json(tmp_path, "runs", "show", ran["run_id"])["agent_version"] == v_good
    history = tether_json(tmp_path, "agents", "show", "support")["history"]
    stops = [h for h in history if h["action"] == "canary_auto_stop"]
    assert len(stops) == 1 and stops[0]["actor"] == "canary-monitor"
    assert stops[0]["version"] == v_flaky and stops[0]["tenant"] == "acme"
