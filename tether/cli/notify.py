"""``tether alerts check|list`` and ``tether notifications list|send`` (``notifications.yaml``).

Registered on the main app by :func:`register`. Workers and ``tether serve`` do the same work
every tick; these commands do it once, now (from cron, or to see what would be sent).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from tether.cli.main import JsonOpt, _out, _with_store
from tether.runtime import Runtime

alerts_app = typer.Typer(
    help="Alert rules over the KPIs (notifications.yaml).", no_args_is_help=True
)
notifications_app = typer.Typer(
    help="The notification outbox: approvals and alerts sent to webhooks.", no_args_is_help=True
)
ConfigOpt = Annotated[Path, typer.Option("--notifications", help="webhooks and alert rules file")]
_DEFAULT = Path("notifications.yaml")


def _notifier(rt: Runtime, config: Path) -> Any:
    from tether.notify import Notifier

    owner = f"cli-{socket.gethostname()}-{os.getpid()}"
    return Notifier(runtime=rt, config_file=config, owner=owner)


def _outcomes(tick: Any) -> list[dict[str, Any]]:
    return [
        {"id": o.id, "webhook": o.webhook, "key": o.key, "status": o.status, "error": o.error}
        for o in tick.delivered
    ]


@alerts_app.command("check")
def alerts_check(config: ConfigOpt = _DEFAULT, as_json: JsonOpt = False) -> None:
    """Evaluate every rule now, then send what is due (approvals and alerts)."""

    def go(rt: Runtime) -> dict[str, Any]:
        with httpx.Client() as client:
            tick = _notifier(rt, config).tick(client, check=True)
        return {
            "transitions": [
                {"rule": t.rule, "seq": t.seq, "state": t.state, "value": t.value, "text": t.text}
                for t in tick.transitions
            ],
            "enqueued": tick.enqueued,
            "deliveries": _outcomes(tick),
        }

    report = _with_store(go)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    for t in report["transitions"]:
        _out().print(t["text"], highlight=False)
    for d in report["deliveries"]:
        _out().print(f"{d['id']} -> {d['webhook']}: {d['status']} {d['error'] or ''}")


@alerts_app.command("list")
def alerts_list(config: ConfigOpt = _DEFAULT, as_json: JsonOpt = False) -> None:
    """The rules, each with its state (ok or firing), last value and since when."""
    from tether.notify import alerts, load_notifications

    def go(rt: Runtime) -> list[dict[str, Any]]:
        rules = load_notifications(config).alerts
        known = alerts.states(rt.store.engine)
        out = []
        for rule in rules:
            state = known.get(rule.name)
            out.append(
                {
                    "name": rule.name,
                    "metric": rule.metric,
                    "fires": rule.threshold,
                    "scope": alerts.scope_of(rule),
                    "state": state.state if state else "unchecked",
                }
                | ({k: v for k, v in state.to_json().items() if k != "rule"} if state else {})
            )
        return out

    rows = _with_store(go)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        value = "-" if r.get("value") is None else f"{r['value']:g}"
        _out().print(
            f"{r['name']:<24} {r['state']:<9} {r['metric']} = {value} (fires {r['fires']})",
            highlight=False,
        )


@notifications_app.command("list")
def notifications_list(
    status: Annotated[str | None, typer.Option(help="pending, sending, delivered or dead")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The newest notifications in the outbox and how their delivery went."""
    from tether.notify.outbox import list_notifications

    items = _with_store(lambda rt: list_notifications(rt.store.engine, status=status, limit=limit))
    if as_json:
        typer.echo(json.dumps([i.to_json() for i in items], ensure_ascii=False))
        return
    for i in items:
        _out().print(
            f"{i.id} {i.status:<9} {i.webhook:<16} {i.key} attempts {i.attempts} "
            f"{i.last_error or ''}",
            highlight=False,
        )


@notifications_app.command("send")
def notifications_send(config: ConfigOpt = _DEFAULT, as_json: JsonOpt = False) -> None:
    """Queue open approvals for the webhooks and send what is due (no rule evaluation)."""

    def go(rt: Runtime) -> dict[str, Any]:
        with httpx.Client() as client:
            tick = _notifier(rt, config).tick(client, check=False)
        return {"enqueued": tick.enqueued, "deliveries": _outcomes(tick)}

    report = _with_store(go)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    for d in report["deliveries"]:
        _out().print(f"{d['id']} -> {d['webhook']}: {d['status']} {d['error'] or ''}")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(notifications_app, name="notifications")
