"""``tether serve`` (the HTTP service) and ``tether keys`` (its API keys).

Registered on the main app by :func:`register`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tether.cli.main import JsonOpt, _errors, _out, _with_store
from tether.errors import ConfigError
from tether.observability import logs
from tether.runtime import Runtime
from tether.store.ratings import Thumbs

keys_app = typer.Typer(help="API keys of the HTTP service.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8321,
    workers: Annotated[
        int, typer.Option(min=0, help="runs this process executes at once; 0: `tether worker`s do")
    ] = 0,
    agents: Annotated[Path, typer.Option(help="folder of agents by name")] = Path("agents"),
    triggers: Annotated[Path, typer.Option(help="webhook triggers file")] = Path("triggers.yaml"),
    notifications: Annotated[
        Path, typer.Option(help="notification webhooks and alert rules")
    ] = Path("notifications.yaml"),
) -> None:
    """Serve the HTTP API (DESIGN §3) until SIGTERM or SIGINT."""
    import uvicorn

    from tether.service import Service, create_app
    from tether.settings import load_settings

    with _errors():
        overrides = {"worker_concurrency": workers} if workers else {}
        # runs of an agent with a registered current version run that version (tether/versions)
        rt = Runtime(settings=load_settings(**overrides), durable=True, route_versions=True)
        logs.configure(rt.settings.log_format, rt.redactor)
        from tether.notify import load_notifications
        from tether.service.listeners import load_listeners

        try:  # a bad file is exit 64 now, not an error at the first request or tick
            load_listeners(triggers)
            load_notifications(notifications)
        except ConfigError:
            rt.close()
            raise
        if not workers:  # the POSTs that queue runs find DBOS imported and its client made
            from tether.durable import prepare_enqueue

            prepare_enqueue(rt)
        app = create_app(
            Service(
                runtime=rt,
                agents_dir=agents,
                workers=workers,
                triggers_file=triggers,
                notifications_file=notifications,
            )
        )
    print(f"tether serving on http://{host}:{port}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="the tenant the key acts for")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="repeat for each: runs:read runs:write approvals:read "
            "approvals:decide memory:read memory:write admin"
        ),
    ],
    name: Annotated[str, typer.Option(help="who or what holds it (shown as the decider)")] = "",
    group: Annotated[
        str | None,
        typer.Option(help="the user group of the runs it creates (feature flags per group)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key; its secret is printed once and stored only as a hash."""
    from tether.service import KeyStore

    key, token = _with_store(
        lambda rt: KeyStore(rt.store.engine).create(tenant, scope, name=name, group=group)
    )
    if as_json:
        typer.echo(json.dumps(key.to_json() | {"key": token}))
    else:
        shown = f" group {key.user_group}" if key.user_group else ""
        _out().print(f"{key.id} tenant {key.tenant}{shown} scopes {' '.join(key.scopes)}")
        typer.echo(token)


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """List keys (never their secrets)."""
    from tether.service import KeyStore

    keys = _with_store(lambda rt: KeyStore(rt.store.engine).list())
    if as_json:
        typer.echo(json.dumps([k.to_json() for k in keys]))
        return
    for k in keys:
        state = "revoked" if k.revoked_at else "live"
        group = f" group {k.user_group}" if k.user_group else ""
        _out().print(f"{k.id} {state:<7} {k.tenant:<16} {' '.join(k.scopes)}  {k.name}{group}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Revoke a key: requests with it get 401 at once."""
    from tether.service import KeyStore

    key = _with_store(lambda rt: KeyStore(rt.store.engine).revoke(key_id))
    _out().print(f"{key.id} revoked")


def rate(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    up: Annotated[bool, typer.Option("--up", help="thumbs up")] = False,
    down: Annotated[bool, typer.Option("--down", help="thumbs down")] = False,
    tag: Annotated[list[str] | None, typer.Option(help="repeat for each tag")] = None,
    correction: Annotated[str | None, typer.Option(help="what it should have said")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rate a run: thumbs, tags, a correction (kept with the run; eval cases can use them)."""
    from tether.governance.operator import operator_name

    if up and down:
        raise typer.BadParameter("give --up or --down, not both")
    thumbs: Thumbs | None = "up" if up else ("down" if down else None)

    def go(rt: Runtime) -> Any:
        record = rt.store.runs.find(run_id)
        return rt.store.ratings.add(
            record.id,
            by=operator_name(),
            tenant=record.tenant,
            thumbs=thumbs,
            tags=tag or [],
            correction=correction,
        )

    rating = _with_store(go)
    if as_json:
        typer.echo(json.dumps(rating.to_json()))
    else:
        _out().print(f"rated {rating.run_id}: {rating.thumbs or ''} {' '.join(rating.tags)}")


def costs(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's runs")] = None,
    limit: Annotated[int, typer.Option(min=1, help="the newest N runs")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Spend and tokens by agent, model, tool and tenant, from the journal."""
    from tether.observability import kpis

    report = _with_store(lambda rt: kpis.costs(*kpis.gather(rt.store, tenant=tenant, limit=limit)))
    data = report.to_json()
    if as_json:
        typer.echo(json.dumps(data))
        return
    out = _out()
    for by, lines in data.items():
        out.print(f"[bold]by {by}[/]")
        for name, line in lines.items():
            out.print(
                f"  {name:<40} runs {line['runs']:>5} calls {line['calls']:>6} tokens "
                f"{line['input_tokens'] + line['output_tokens']:>9} cost {line['cost']}",
                highlight=False,
            )


def kpis_command(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's runs")] = None,
    limit: Annotated[int, typer.Option(min=1, help="the newest N runs")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Task success, containment, approval latency, cost per success, tool-call rates."""
    from tether.observability import kpis

    figures = _with_store(lambda rt: kpis.kpis(*kpis.gather(rt.store, tenant=tenant, limit=limit)))
    data = figures.to_json()
    if as_json:
        typer.echo(json.dumps(data))
        return
    for name, value in data.items():
        _out().print(f"{name:<28} {'-' if value is None else value}", highlight=False)


def register(app: typer.Typer, runs_app: typer.Typer) -> None:
    app.command()(costs)
    app.command("kpis")(kpis_command)
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
    runs_app.command("rate")(rate)
