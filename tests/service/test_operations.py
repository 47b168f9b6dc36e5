"""Operations over HTTP: kill switches scoped to the key's tenant, call latency histograms and
breaker states in ``/metrics``, session and subject on ``POST /v1/runs``."""

from __future__ import annotations

from pathlib import Path

from tests.agent_helpers import agent, make_runtime, scripted
from tests.service.server import client, serving
from tests.service.test_api import Api
from tether.service import Service, create_app
from tether.service.calls import Call, CallStats
from tether.testing import answer, call
from tether.types import RunStatus


def _switches(api: Api, run_id: str) -> list[str]:
    """The switches a run's next step sees."""
    record = api.rt.store.runs.get(run_id)
    pre = api.rt.store.controls.preflight(run_id, agent=record.agent, tools=["calculator"])
    return [f"{s.scope} {s.target}" for s in pre.switches]


def test_a_tenants_kill_switch_stops_only_its_own_runs(api: Api) -> None:
    with client(api.base, api.key("alpha", "runs:write")) as c:
        mine = c.post("/v1/runs", json={"agent": "echoer", "goal": "add 1 and 1"}).json()["run_id"]
    with client(api.base, api.key("alpha", "kill")) as c:
        r = c.post("/v1/kill", json={"scope": "agent", "agent": "echoer", "reason": "test"})
        assert r.status_code == 200, r.text
        assert r.json()["tenant"] == "alpha" and r.json()["runs"] == [mine]
        assert _switches(api, mine) == ["agent echoer"]
        assert _switches(api, api.b_run) == []  # tenant beta's run of the same agent goes on
        r = c.post("/v1/kill", json={"scope": "global", "all_tenants": True})
        assert r.status_code == 403 and "admin" in r.json()["detail"]
    with client(api.base, api.key("gamma", "admin")) as c:
        r = c.post("/v1/kill", json={"scope": "tool", "tool": "calculator", "all_tenants": True})
        assert r.status_code == 200 and r.json()["tenant"] == ""
        assert set(r.json()["runs"]) == {mine, api.b_run}
    assert _switches(api, api.b_run) == ["tool calculator"]
    with client(api.base, api.key("beta", "kill")) as c:  # beta cannot lift alpha's, nor all
        r = c.post("/v1/kill", json={"scope": "agent", "agent": "echoer", "lift": True})
        assert r.status_code == 409 and "tenant 'beta'" in r.json()["detail"]
        r = c.post("/v1/kill", json={"scope": "tool", "tool": "calculator", "lift": True})
        assert r.status_code == 409
    with client(api.base, api.key("alpha", "kill")) as c:
        r = c.post("/v1/kill", json={"scope": "agent", "agent": "echoer", "lift": True})
        assert r.json()["lifted"] == 1
    assert _switches(api, mine) == ["tool calculator"]


def test_runs_take_a_session_and_a_subject(api: Api) -> None:
    body = {"agent": "echoer", "goal": "add 3 and 4", "session": "chat-7", "subject": "carol"}
    with client(api.base, api.key("beta", "runs:write", "runs:read")) as c:
        r = c.post("/v1/runs", json=body)
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        text = c.get(f"/v1/runs/{run_id}/events", params={"follow": "false"}).text
        r = c.post("/v1/runs", json=body | {"session": "-bad"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "session"]
    assert "event: session_context" in text and '"session": "chat-7"' in text
    (started,) = api.rt.store.journal.read(run_id, kinds=["run_started"])
    assert started.payload.subject_hash  # type: ignore[union-attr]
    assert "carol" not in text


def test_metrics_have_call_latency_histograms(tmp_path: Path) -> None:
    model = scripted(call("calculator", expression="6*7"), answer("42"))
    rt = make_runtime(tmp_path, model)
    result = rt.run_sync(agent(), "what is 6*7?")
    assert result.status is RunStatus.SUCCEEDED
    svc = Service(runtime=rt, agents_dir=tmp_path)
    with serving(create_app(svc)) as base, client(base) as c:
        text = c.get("/metrics").text
        again = c.get("/metrics").text  # incremental: nothing counted twice
    model_count = 'tether_model_call_seconds_count{agent="test-agent",model="scripted"} 2.0'
    tool_count = 'tether_tool_call_seconds_count{agent="test-agent",tool="calculator"} 1.0'
    for t in (text, again):
        assert model_count in t and tool_count in t
        assert (
            'tether_model_call_seconds_bucket{agent="test-agent",le="+Inf",model="scripted"}' in t
        )
        assert 'tether_tool_breaker_state{state="closed",tool="calculator"} 1.0' in t
        assert 'tether_runs{status="succeeded"} 1.0' in t


def test_breaker_state_follows_the_newest_call() -> None:
    stats = CallStats()
    stats.fold(
        [
            Call(seq=1, kind="tool_call_finished", agent="a", name="search", seconds=0.03),
            Call(
                seq=2,
                kind="tool_call_finished",
                agent="a",
                name="search",
                seconds=0.0,
                breaker_open=True,
            ),
            Call(seq=3, kind="model_response", agent="a", name="m", seconds=1.2),
            Call(seq=4, kind="model_response", agent="a", name="m", seconds=0.0, cached=True),
        ]
    )
    families = {m.name: m for m in stats.metrics()}
    breaker = {
        (s.labels["tool"], s.labels["state"]): s.value
        for s in families["tether_tool_breaker_state"].samples
    }
    assert breaker == {("search", "open"): 1.0, ("search", "closed"): 0.0}
    model = {
        s.labels.get("le"): s.value
        for s in families["tether_model_call_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert model["1.0"] == 0.0 and model["2.5"] == 1.0 and model["+Inf"] == 1.0
    tool = [s for s in families["tether_tool_call_seconds"].samples if s.name.endswith("_count")]
    assert [s.value for s in tool] == [1.0]  # the refused call is no latency sample
    assert stats.cursor == 4
    stats.fold([Call(seq=5, kind="tool_call_finished", agent="a", name="search", seconds=0.1)])
    assert not stats.breakers["search"]
