"""The version registry, the routing decision and the canary monitor's decision, in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent_helpers import make_runtime, scripted
from tether import Agent, tool
from tether.errors import ConfigError, UsageError
from tether.testing import answer
from tether.versions import (
    ArmStats,
    Canaries,
    Channel,
    Thresholds,
    VersionStore,
    bucket,
    choose,
    decide,
)
from tether.versions.diff import changes, unified


def _agent(instructions: str = "Help.", **extra: object) -> Agent:
    return Agent(name="a", instructions=instructions, model="scripted", **extra)  # type: ignore[arg-type]


def test_evals_do_not_change_the_version_hash() -> None:
    assert _agent().version == _agent(evals=["x.yaml"]).version
    assert _agent().version != _agent("Other.").version


def test_bucket_is_deterministic_and_the_share_holds() -> None:
    assert bucket("a", "run_1") == bucket("a", "run_1") != bucket("b", "run_1")
    shared = Channel(
        agent="a",
        tenant="",
        current_version="v1",
        candidate_version="v2",
        canary_share=0.2,
        canary_state="running",
    )
    routes = [choose(shared, None, f"run_{n}") for n in range(2000)]
    to_candidate = sum(r is not None and r.arm == "candidate" for r in routes)
    assert 300 < to_candidate < 500  # 20% of 2000, within a wide margin of chance
    assert {r.version for r in routes if r and r.arm == "current"} == {"v1"}
    stopped = Channel(**{**shared.__dict__, "canary_state": "stopped"})
    assert choose(stopped, None, "run_1") == choose(None, stopped, "run_1")
    assert choose(stopped, None, "run_1").arm is None  # type: ignore[union-attr]
    assert choose(None, None, "run_1") is None
    own = Channel(agent="a", tenant="t", current_version="v9")
    assert choose(stopped, own, "run_1").version == "v9"  # type: ignore[union-attr]


def _arm(runs: int, ok: int, cost: float = 0.0, latency: float | None = 1.0) -> ArmStats:
    return ArmStats(runs=runs, succeeded=ok, mean_cost_micros=cost, median_latency_s=latency)


def test_canary_decision() -> None:
    t = Thresholds(max_drop=0.1, min_runs=5, max_cost_increase=0.5, max_latency_increase=1.0)
    assert decide(_arm(10, 10), _arm(4, 0), t) is None  # too few candidate runs yet
    assert "success rate 60%" in (decide(_arm(10, 10), _arm(5, 3), t) or "")
    assert decide(_arm(10, 10), _arm(10, 9), t) is None  # a 10% drop is tolerated
    assert "cost" in (decide(_arm(10, 10, 100), _arm(10, 10, 200), t) or "")
    assert "latency" in (decide(_arm(10, 10), _arm(10, 10, latency=2.5), t) or "")
    off = Thresholds(min_runs=5, max_cost_increase=None, max_latency_increase=None)
    assert decide(_arm(10, 10, 100, 1.0), _arm(10, 10, 900, 9.0), off) is None


def test_register_promote_rollback_and_history(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, scripted(answer("hi")))
    vs = VersionStore(rt.store.engine)
    try:
        a1, a2, a3 = _agent("One."), _agent("Two."), _agent("Three.")
        for a in (a1, a2, a3):
            assert vs.register(a, by="test").build().version == a.version
        assert vs.register(a1, by="again").registered_by == "test"  # registered once
        assert vs.promote("a", a1.version, by="t") is None
        assert vs.promote("a", a2.version[:6], by="t") == a1.version  # a prefix is enough
        vs.promote("a", a3.version, by="t")
        assert vs.rollback("a", by="t") == (a3.version, a2.version)
        assert vs.rollback("a", by="t") == (a2.version, a1.version)  # and one more back
        with pytest.raises(UsageError, match="no version was current before"):
            vs.rollback("a", by="t")
        assert vs.rollback("a", a3.version, by="t") == (a1.version, a3.version)
        with pytest.raises(UsageError, match="is not registered"):
            vs.get("a", "ffff")
        actions = [h.action for h in vs.history("a")]
        assert actions[:3] == ["rollback", "rollback", "rollback"] and "register" in actions
        canaries = Canaries(vs)
        with pytest.raises(UsageError, match="current already"):
            canaries.start("a", a3.version, 0.2, Thresholds(), by="t")
        canaries.start("a", a1.version, 0.2, Thresholds(), tenant="acme", by="t")
        vs.promote("a", a2.version, by="t")  # a promotion ends the running canary
        channel = vs.channel("a", "acme")
        assert channel is not None and channel.canary_state == "stopped"
        assert not canaries.stop("a", "again", tenant="acme", by="t")
    finally:
        rt.close()


def test_a_tool_other_processes_cannot_import_is_refused(tmp_path: Path) -> None:
    @tool
    def local_only(x: int) -> int:
        """A closure."""
        return x

    rt = make_runtime(tmp_path, scripted(answer("hi")))
    try:
        with pytest.raises(ConfigError, match="importable module"):
            VersionStore(rt.store.engine).register(_agent(tools=[local_only]), by="t")
    finally:
        rt.close()


def test_diff_names_each_changed_field() -> None:
    a = _agent("One.").portable_spec().model_dump(mode="json")
    b = _agent("Two.").portable_spec().model_dump(mode="json") | {"limits": {"max_steps": 3}}
    found = {c.field: (c.before, c.after) for c in changes(a, b)}
    assert found["instructions"] == ("One.", "Two.")
    assert found["limits.max_steps"] == (8, 3)
    assert "-instructions: One." in unified(a, b, "a@1", "a@2")
    assert changes(a, a) == []
