"""Feature flags (issue 12): a tool, memory writes, the autonomy tier and triggers switched per
tenant or user group, checked by the runtime and visible in the journal (real SQLite)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.agent_helpers import make_runtime, scripted
from tether import Agent, Runtime, tool
from tether.cli.main import app
from tether.errors import CapabilityDisabled
from tether.events import FlagApplied, ModelRequested, ToolCallFinished
from tether.flags import Flag, FlagStore, resolve
from tether.flags.model import check
from tether.testing import answer, call
from tether.types import RunStatus

SENT: list[str] = []


@tool(side_effect="write", sink=False)
def send_note(to: str, text: str) -> dict[str, str]:
    """Send a short note.

    Args:
        to: the recipient
        text: the note
    """
    SENT.append(to)
    return {"status": "sent"}


def notes_agent() -> Agent:
    return Agent(name="notes", model="scripted", tools=["calculator", send_note], preselect_k=8)


def kinds(rt: Runtime, run_id: str, kind: str) -> list[Any]:
    return [e.payload for e in rt.store.journal.read(run_id) if e.kind == kind]


def run(rt: Runtime, **kw: Any) -> Any:
    return rt.run_sync(notes_agent(), "send bob a note", **kw)


STEPS = (call("send_note", to="bob", text="hi"), answer("done"))


def test_a_disabled_tool_is_not_offered_and_a_call_is_refused(tmp_path: Path) -> None:
    SENT.clear()
    rt = make_runtime(tmp_path, scripted(*STEPS))
    try:
        FlagStore(rt.store.engine).set("default", "tool:send_note", "off")
        result = run(rt)
        assert result.status is RunStatus.SUCCEEDED and SENT == []
        (request, *_) = kinds(rt, result.run_id, "model_request")
        assert isinstance(request, ModelRequested) and "send_note" not in request.tools
        (finished,) = kinds(rt, result.run_id, "tool_call_finished")
        assert isinstance(finished, ToolCallFinished) and not finished.ok
        assert finished.error is not None and finished.error["code"] == "tool_disabled"
        assert "switched off for tenant:default" in finished.error["message"]
        (flag,) = kinds(rt, result.run_id, "flag_applied")
        assert isinstance(flag, FlagApplied)
        assert (flag.capability, flag.value, flag.scope) == (
            "tool:send_note",
            "off",
            "tenant:default",
        )
    finally:
        rt.close()


def test_a_group_flag_overrides_its_tenants(tmp_path: Path) -> None:
    SENT.clear()
    rt = make_runtime(tmp_path, scripted(*STEPS, *STEPS))
    try:
        flags = FlagStore(rt.store.engine)
        flags.set("default", "tool:send_note", "off")
        flags.set("default", "tool:send_note", "on", group="beta")
        beta = run(rt, user_group="beta")
        assert SENT == ["bob"] and kinds(rt, beta.run_id, "flag_applied") == []
        assert rt.store.runs.get(beta.run_id).user_group == "beta"
        other = run(rt, user_group="ops")
        assert SENT == ["bob"]  # not sent again
        (finished,) = kinds(rt, other.run_id, "tool_call_finished")
        assert finished.error["code"] == "tool_disabled"
    finally:
        rt.close()


def test_an_autonomy_cap_sends_writes_to_a_person(tmp_path: Path) -> None:
    SENT.clear()
    rt = make_runtime(tmp_path, scripted(*STEPS))
    try:
        FlagStore(rt.store.engine).set("default", "autonomy", "read")
        result = run(rt)
        assert result.status is RunStatus.PAUSED and SENT == []
        decisions = [d for d in kinds(rt, result.run_id, "policy_decision") if d.target == "tool"]
        assert decisions[-1].outcome == "require_approval"
        assert decisions[-1].reasons == ["tether.flag.autonomy"]
        (asked,) = kinds(rt, result.run_id, "approval_requested")
        assert asked.tool == "send_note" and "capped at 'read'" in asked.messages[0]
        (flag,) = kinds(rt, result.run_id, "flag_applied")
        assert flag.capability == "autonomy" and "send_note" in flag.effect
    finally:
        rt.close()


def test_autonomy_write_is_the_ladders_default(tmp_path: Path) -> None:
    SENT.clear()
    rt = make_runtime(tmp_path, scripted(*STEPS))
    try:
        FlagStore(rt.store.engine).set("default", "autonomy", "write")
        result = run(rt)
        assert result.status is RunStatus.SUCCEEDED and SENT == ["bob"]
        assert kinds(rt, result.run_id, "flag_applied") == []
    finally:
        rt.close()


def test_a_disabled_trigger_starts_nothing(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, scripted(answer("ok"), answer("ok")))
    try:
        flags = FlagStore(rt.store.engine)
        flags.set("acme", "triggers", "off")
        origin = {"trigger": "deploy", "delivery": "k1"}
        with pytest.raises(CapabilityDisabled, match="trigger 'deploy' starts no run"):
            asyncio.run(rt.start(notes_agent(), "go", tenant="acme", origin=origin))
        scheduled = {"schedule": "weekly", "scheduled_at": "2026-01-05T09:00:00+00:00"}
        with pytest.raises(CapabilityDisabled, match="trigger 'weekly'"):  # schedules too
            asyncio.run(rt.start(notes_agent(), "go", tenant="acme", origin=scheduled))
        assert rt.store.runs.list(tenant="acme") == []
        flags.set("acme", "trigger:deploy", "on")  # the trigger's own flag wins
        ctx = asyncio.run(rt.start(notes_agent(), "go", tenant="acme", origin=origin))
        assert [r.id for r in rt.store.runs.list(tenant="acme")] == [ctx.run_id]
        # a person's run is not a trigger
        assert rt.run_sync(notes_agent(), "hi", tenant="acme").status is RunStatus.SUCCEEDED
    finally:
        rt.close()


def test_resolution_and_validation_are_pure() -> None:
    rows = [
        Flag(tenant="t", capability="autonomy", value="read"),
        Flag(tenant="t", group="g", capability="autonomy", value="write"),
        Flag(tenant="u", capability="memory_writes", value="off"),
    ]
    assert resolve(rows, "t", None).autonomy() is not None
    assert resolve(rows, "t", "g").autonomy() is None  # the group's ladder default
    assert resolve(rows, "t", None).off("memory_writes") is None
    assert check("tool:send_note", " OFF ") == "off"
    with pytest.raises(Exception, match="not known; use one of"):
        check("tools", "off")
    with pytest.raises(Exception, match="not one of none, read, write"):
        check("autonomy", "high_risk")


def test_flags_cli_set_list_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    cli = CliRunner()
    out = cli.invoke(app, ["flags", "set", "tool:send_note", "off", "--tenant", "acme", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["scope"] == "tenant:acme"
    out = cli.invoke(
        app, ["flags", "set", "autonomy", "none", "--tenant", "acme", "--group", "ops"]
    )
    assert out.exit_code == 0 and "group:acme/ops" in out.stdout
    listed = json.loads(cli.invoke(app, ["flags", "list", "--json"]).stdout)
    assert [(f["capability"], f["group"], f["value"]) for f in listed] == [
        ("tool:send_note", None, "off"),
        ("autonomy", "ops", "none"),
    ]
    out = cli.invoke(app, ["flags", "unset", "tool:send_note", "--tenant", "acme", "--json"])
    assert json.loads(out.stdout)["removed"] is True
    assert len(json.loads(cli.invoke(app, ["flags", "list", "--json"]).stdout)) == 1
    bad = cli.invoke(app, ["flags", "set", "autonomy", "sometimes"])
    assert bad.exit_code == 64 and "none, read, write" in bad.output
    bad = cli.invoke(app, ["flags", "set", "everything", "off"])
    assert bad.exit_code == 64 and "not known" in bad.output


def test_flags_hold_in_a_durable_tether_process(tmp_path: Path) -> None:
    """`tether flags set` then `tether run` (a DBOS workflow rebuilding the run): the refund
    tool is refused, nothing is written, and the flag is journaled once."""
    from tests.test_shadow import PRODUCTION, lines, tether

    (tmp_path / "production.yaml").write_text(PRODUCTION)
    flagged = tether(tmp_path, "flags", "set", "tool:issue_refund", "off")
    assert flagged.returncode == 0, flagged.stderr
    ran = tether(tmp_path, "run", "--agent", "production.yaml", "--json", "Refund order A1")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    assert lines(tmp_path / "effects") == []
    out = tether(tmp_path, "runs", "events", run_id, "--json")
    events = json.loads(out.stdout)
    applied = [e["payload"] for e in events if e["kind"] == "flag_applied"]
    assert [a["capability"] for a in applied] == ["tool:issue_refund"]
    refused = [e["payload"] for e in events if e["kind"] == "tool_call_finished"][-1]
    assert refused["error"]["code"] == "tool_disabled"
