"""KPIs and cost roll-ups from real runs' journals, through the CLI and the API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.governance.test_approvals import agent as support_agent
from tests.governance.test_approvals import runtime as governed_runtime
from tests.service.server import client, serving
from tether.cli.main import app
from tether.governance.approvals import Approvals
from tether.observability import kpis
from tether.service import Service, create_app
from tether.testing import ScriptedModel, answer, call
from tether.types import RunStatus


def test_kpis_count_success_containment_approvals_and_tool_errors(tmp_path: Path) -> None:
    model = ScriptedModel(
        steps=[
            # run 1: a lookup, then an answer (contained, succeeded)
            call("lookup", account="a-1"),
            answer("a-1 is fine"),
            # run 2: a made-up tool, bad arguments, then an answer
            call("no_such_tool", x=1),
            call("lookup", wrong=1),
            answer("done"),
            # run 3: asks to delete (approval), approved, answers
            call("delete_account", account="a-17"),
            answer("deleted"),
        ]
    )
    rt = governed_runtime(tmp_path, model)
    assert rt.run_sync(support_agent(), "check a-1", tenant="t1").status is RunStatus.SUCCEEDED
    assert rt.run_sync(support_agent(), "try", tenant="t1").status is RunStatus.SUCCEEDED
    paused = rt.run_sync(support_agent(), "close a-17", tenant="t1")
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    approvals.approve(pending.id, "alice")
    asyncio.run(approvals.run_here(paused.run_id))
    figures = kpis.kpis(*kpis.gather(rt.store, tenant="t1"))
    assert figures.runs == figures.finished == 3
    assert figures.task_success_rate == 1.0
    assert figures.containment_rate == round(2 / 3, 4)
    assert figures.approval_latency_p50_s is not None and figures.approval_latency_p50_s >= 0
    assert figures.tool_calls == 4
    assert figures.hallucinated_tool_rate == 0.25 and figures.invalid_argument_rate == 0.25
    assert figures.tool_call_success_rate == 0.5
    report = kpis.costs(*kpis.gather(rt.store)).to_json()
    assert report["agent"]["support"]["runs"] == 3 and report["tenant"]["t1"]["runs"] == 3
    assert report["tool"]["lookup"]["calls"] == 2 and report["model"]["scripted"]["calls"] == 7
    svc = Service(runtime=rt, agents_dir=tmp_path)
    with serving(create_app(svc)) as base:
        with client(base, svc.keys.create("t1", ["runs:read"])[1]) as c:
            assert c.get("/v1/kpis").json()["task_success_rate"] == 1.0
            assert c.get("/v1/costs").json()["tool"]["lookup"]["calls"] == 2
        with client(base, svc.keys.create("other", ["runs:read"])[1]) as c:
            assert c.get("/v1/kpis").json()["runs"] == 0  # another tenant sees nothing


def test_costs_and_kpis_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    out = runner.invoke(app, ["kpis", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["runs"] == 0
    out = runner.invoke(app, ["costs", "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["agent"] == {}
