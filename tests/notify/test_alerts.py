"""Alert rules over the KPIs: a rule notifies once when it starts firing and once when it
resolves (never again while firing), two evaluators record one transition, and each metric is
measured from run records, journals and open approvals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.notify.receiver import Receiver, receiving
from tests.notify.test_notifications import HOOK_SECRET, paused_run
from tether import Runtime
from tether.cli.main import app
from tether.events import Event, EventKey, ToolCallFinished
from tether.notify import Notifier, alerts, load_notifications
from tether.notify.config import AlertRule
from tether.notify.outbox import list_notifications
from tether.settings import Settings
from tether.store import RunRecord
from tether.types import RunStatus

RULES = """
webhooks:
  - {{name: ops, url: "{url}", secret: ops_hook, send: [alerts]}}
alerts:
  - {{name: low-success, metric: task_success_rate, below: 0.8, runs: 4, min_runs: 4}}
  - {{name: costly, metric: cost_per_run, above: 0.5, runs: 4}}
"""


def add_runs(rt: Runtime, *statuses: RunStatus, cost: str = "0.01") -> None:
    for status in statuses:
        n = len(rt.store.runs.list(limit=1000))
        now = datetime.now(UTC) + timedelta(milliseconds=n)
        rt.store.runs.create(
            RunRecord(
                id=f"run_{n:04d}",
                agent="a",
                goal="g",
                model="m",
                status=status,
                created_at=now,
                finished_at=now,
                cost=Decimal(cost),
            )
        )


def test_a_rule_notifies_once_when_it_fires_and_once_when_it_resolves(tmp_path: Path) -> None:
    rt = Runtime(settings=Settings(home=tmp_path / "home", secrets={"ops_hook": HOOK_SECRET}))
    ok, failed = RunStatus.SUCCEEDED, RunStatus.FAILED
    add_runs(rt, ok, failed, failed, failed)
    with receiving(Receiver(secret=HOOK_SECRET)) as rx, httpx.Client() as client:
        path = tmp_path / "notifications.yaml"
        path.write_text(RULES.format(url=rx.url))
        notifier = Notifier(runtime=rt, config_file=path)
        fired = notifier.tick(client, check=True)
        still = [notifier.tick(client, check=True) for _ in range(2)]
        add_runs(rt, ok, ok, ok, ok)
        resolved = notifier.tick(client, check=True)
    assert [(t.rule, t.state, t.value) for t in fired.transitions] == [
        ("low-success", "firing", 0.25)
    ]
    assert all(t.transitions == () and t.delivered == () for t in still)
    assert [(t.rule, t.state) for t in resolved.transitions] == [("low-success", "ok")]
    kinds = [g["body"]["tether"]["kind"] for g in rx.got]
    assert kinds == ["alert_firing", "alert_resolved"] and rx.rejected == []
    assert rx.got[0]["body"]["text"].startswith("[FIRING] alert low-success")
    assert [n.status for n in list_notifications(rt.store.engine)] == ["delivered"] * 2
    history = alerts.transitions(rt.store.engine)
    assert [(h["rule"], h["seq"], h["state"]) for h in history] == [
        ("low-success", 2, "ok"),
        ("low-success", 1, "firing"),
    ]
    state = alerts.states(rt.store.engine)
    assert state["low-success"].state == "ok" and state["costly"].state == "ok"
    rt.close()


def test_two_evaluators_racing_record_one_transition(tmp_path: Path) -> None:
    rt = Runtime(settings=Settings(home=tmp_path / "home"))
    add_runs(rt, RunStatus.FAILED)
    path = tmp_path / "notifications.yaml"
    path.write_text(RULES.format(url="http://127.0.0.1:9/x"))
    config = load_notifications(path)
    rule = config.alerts[0].model_copy(update={"min_runs": 1})
    now = datetime.now(UTC)
    # both read the state before either wrote it (as two workers checking at the same moment)
    before = alerts.states(rt.store.engine).get(rule.name)
    first = alerts._record(rt.store.engine, config, rt.redactor, rule, before, 0.0, now)
    second = alerts._record(rt.store.engine, config, rt.redactor, rule, before, 0.0, now)
    assert first is not None and first.state == "firing" and second is None
    assert len(alerts.transitions(rt.store.engine)) == 1
    assert len(list_notifications(rt.store.engine)) == 1  # one notification for ops
    rt.close()


def call(run_id: str, n: int, ok: bool, code: str | None = None) -> Event:
    payload = ToolCallFinished(
        call_id=f"c{n}", tool="crm", ok=ok, error={"code": code} if code else None
    )
    return Event(key=EventKey(run_id=run_id, segment=0, step=n, kind=payload.kind), payload=payload)


def test_tool_error_rate_breakers_failures_and_cost_are_measured() -> None:
    now = datetime.now(UTC)
    records = [
        RunRecord(id=f"r{i}", agent="a", goal="g", model="m", status=s, cost=Decimal(c))
        for i, (s, c) in enumerate([(RunStatus.SUCCEEDED, "0.1"), (RunStatus.FAILED, "0.3")])
    ]
    journals = {
        "r0": [call("r0", 0, True), call("r0", 1, False, "timeout")],
        "r1": [call("r1", 0, False, "circuit_open"), call("r1", 1, False, "circuit_open")],
    }

    def value(metric: str, **extra: object) -> float | None:
        rule = AlertRule.model_validate({"name": "r", "metric": metric, "above": 0, **extra})
        return alerts.measure(rule, records, journals, [], now)

    assert value("tool_error_rate") == 0.75
    assert value("breaker_open") == 2.0
    assert value("failed_runs") == 1.0
    assert value("cost_per_run") == 0.2
    assert value("task_success_rate") == 0.5
    assert value("tool_call_success_rate") == 0.25
    assert value("task_success_rate", min_runs=3) is None  # too few runs for a verdict
    old = now - timedelta(hours=2)
    assert value("failed_runs", window_s=60) == 1.0
    aged = [r.__class__(**{**r.__dict__, "created_at": old}) for r in records]
    rule = AlertRule(name="r", metric="failed_runs", above=0, window_s=60)
    assert alerts.measure(rule, aged, journals, [], now) is None  # nothing in the window


async def test_approvals_pending_longer_than_a_limit_fire(tmp_path: Path) -> None:
    rt, _ = await paused_run(tmp_path)
    now = rt.clock.now()
    waiting = AlertRule(name="backlog", metric="approvals_pending", above=0)
    patient = AlertRule(name="backlog", metric="approvals_pending", above=0, older_than_s=3600)
    opened = alerts._pending_since(rt.store.engine, None)
    assert alerts.measure(waiting, [], {}, opened, now) == 1.0
    assert alerts.measure(patient, [], {}, opened, now) == 0.0
    assert alerts.measure(patient, [], {}, opened, now + timedelta(hours=2)) == 1.0
    rt.close()


def test_alerts_list_and_check_commands(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv("TETHER_HOME", str(tmp_path / "home"))
    mp.setenv("TETHER_SECRET_OPS_HOOK", HOOK_SECRET)
    mp.chdir(tmp_path)
    try:
        rt = Runtime(settings=Settings(home=tmp_path / "home"))
        add_runs(rt, RunStatus.FAILED, RunStatus.FAILED, RunStatus.FAILED, RunStatus.FAILED)
        rt.close()
        with receiving(Receiver(secret=HOOK_SECRET)) as rx:
            (tmp_path / "notifications.yaml").write_text(RULES.format(url=rx.url))
            runner = CliRunner()
            before = runner.invoke(app, ["alerts", "list", "--json"])
            checked = runner.invoke(app, ["alerts", "check", "--json"])
            after = runner.invoke(app, ["alerts", "list", "--json"])
            sent = runner.invoke(app, ["notifications", "list", "--json"])
    finally:
        mp.undo()
    assert before.exit_code == 0, before.output
    assert [(r["name"], r["state"]) for r in json.loads(before.output)] == [
        ("low-success", "unchecked"),
        ("costly", "unchecked"),
    ]
    report = json.loads(checked.output)
    assert [(t["rule"], t["state"]) for t in report["transitions"]] == [("low-success", "firing")]
    assert [d["status"] for d in report["deliveries"]] == ["delivered"]
    rows = {r["name"]: r for r in json.loads(after.output)}
    assert rows["low-success"]["state"] == "firing" and rows["low-success"]["value"] == 0.0
    assert rows["costly"]["state"] == "ok"
    (item,) = json.loads(sent.output)
    assert item["status"] == "delivered" and item["message"]["tether"]["kind"] == "alert_firing"
    assert len(rx.got) == 1
