"""Per-tenant promote and rollback (a tenant's own channel over every tenant's), and the eval
gate a canary's candidate passes before it takes traffic (real SQLite, real `tether`
processes for the CLI)."""

from __future__ import annotations

from pathlib import Path

from tests.agent_helpers import make_runtime, scripted
from tests.versions.helpers import agent_yaml, make_project, tether, tether_json
from tether import Agent
from tether.testing import answer
from tether.versions import Canaries, Thresholds, VersionStore
from tether.versions.route import route_agent


def _agent(instructions: str) -> Agent:
    return Agent(name="a", instructions=instructions, model="scripted")


def test_a_tenants_promotion_and_rollback_leave_the_others_alone(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, scripted(answer("hi")))
    vs = VersionStore(rt.store.engine)
    try:
        a1, a2, a3 = _agent("One."), _agent("Two."), _agent("Three.")
        for a in (a1, a2, a3):
            vs.register(a, by="t")
        vs.promote("a", a1.version, by="t")
        canaries = Canaries(vs)
        canaries.start("a", a3.version, 0.2, Thresholds(), by="t")  # every tenant's canary
        assert vs.promote("a", a2.version, by="t", tenant="acme") == a1.version
        assert (vs.current("a", "acme"), vs.current("a", "globex")) == (a2.version, a1.version)
        assert vs.current("a") == a1.version
        assert route_agent(vs, a1, "acme", "run_x").version in (a2.version, a3.version)
        shared = vs.channel("a")
        assert shared is not None and shared.canary_state == "running"  # not the tenant's
        (entry, *_) = vs.history("a")
        assert (entry.action, entry.tenant, entry.from_version) == ("promote", "acme", a1.version)

        assert vs.rollback("a", by="t", tenant="acme") == (a2.version, a1.version)
        assert vs.current("a", "acme") == a1.version and vs.current("a") == a1.version
        vs.promote("a", a3.version, by="t", tenant="acme")
        canaries.start("a", a2.version, 0.2, Thresholds(), tenant="acme", by="t")
        vs.promote("a", a1.version, by="t", tenant="acme")  # ends the tenant's canary only
        own = vs.channel("a", "acme")
        assert own is not None and own.canary_state == "stopped"
        assert vs.channel("a").canary_state == "running"  # type: ignore[union-attr]
        # a tenant with no promotion of its own rolls back along every tenant's history
        vs.promote("a", a2.version, by="t")
        assert vs.rollback("a", by="t", tenant="globex") == (a2.version, a1.version)
        assert (vs.current("a", "globex"), vs.current("a")) == (a1.version, a2.version)
    finally:
        rt.close()


def test_a_canary_candidate_that_regresses_on_its_evals_gets_no_traffic(tmp_path: Path) -> None:
    make_project(tmp_path, model="good")
    current = tether_json(tmp_path, "agents", "promote", "support", "--skip-evals")[
        "candidate_version"
    ]
    (tmp_path / "flaky.yaml").write_text(agent_yaml("flaky").replace("evals/", "agents/evals/"))
    refused = tether(
        tmp_path, "agents", "canary", "support", "--file", "flaky.yaml", "--tenant", "acme"
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refused" in refused.stderr and "no run goes to it" in refused.stderr
    assert "evidence:" in refused.stderr
    none = tether(tmp_path, "agents", "canary", "support", "--tenant", "acme")
    assert none.returncode == 64 and "canary" in none.stderr  # none was started
    shown = tether_json(tmp_path, "agents", "show", "support")
    assert shown["history"][0]["action"] == "canary_refused"
    assert shown["current_version"] == current

    (tmp_path / "better.yaml").write_text(
        agent_yaml("good", "Answer briefly.").replace("evals/", "agents/evals/")
    )
    started = tether_json(
        tmp_path,
        "agents", "canary", "support", "--file", "better.yaml", "--tenant", "acme",
        "--share", "0.2",
    )  # fmt: skip
    assert started["canary_state"] == "running" and started["tenant"] == "acme"
    assert started["candidate_version"] != current

    # promote and roll back for one tenant from the CLI
    promoted = tether_json(
        tmp_path, "agents", "promote", "support", "--file", "better.yaml", "--tenant", "acme"
    )
    assert promoted["passed"] is True and promoted["current_version"] == current
    back = tether_json(tmp_path, "agents", "rollback", "support", "--tenant", "acme")
    assert back == {
        "agent": "support",
        "tenant": "acme",
        "from_version": promoted["candidate_version"],
        "current_version": current,
    }
    assert tether_json(tmp_path, "agents", "show", "support")["current_version"] == current
