"""``tether flags list|set|unset``: feature flags per tenant or user group (tether/flags).

Capabilities: ``tool:NAME`` on|off, ``memory_writes`` on|off, ``autonomy`` none|read|write,
``triggers`` or ``trigger:NAME`` on|off. A group's flag overrides its tenant's. Runs started
after a change see it (a paused run, when it resumes).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tether.flags import FlagStore
from tether.flags.model import KNOWN, check
from tether.runtime import Runtime

flags_app = typer.Typer(
    help="Feature flags: switch tools, memory writes, autonomy, triggers per tenant or group.",
    no_args_is_help=True,
)
TenantOpt = Annotated[str | None, typer.Option(help="tenant (default: TETHER_TENANT)")]
GroupOpt = Annotated[str | None, typer.Option(help="a user group of the tenant")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@flags_app.command("list")
def flags_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List the flags set (of one tenant with --tenant)."""
    from tether.cli.main import _with_store

    flags = _with_store(lambda rt: FlagStore(rt.store.engine).list(tenant))
    if as_json:
        typer.echo(json.dumps([f.to_json() for f in flags]))
        return
    table = Table(title="feature flags")
    for column in ("tenant", "group", "capability", "value", "updated"):
        table.add_column(column)
    for f in flags:
        when = f.updated_at.isoformat(timespec="seconds") if f.updated_at else ""
        table.add_row(f.tenant, f.group or "(all)", f.capability, f.value, when)
    Console(soft_wrap=True).print(table)


@flags_app.command("set")
def flags_set(
    capability: Annotated[str, typer.Argument(help=KNOWN)],
    value: Annotated[str, typer.Argument(help="on|off; autonomy: none|read|write")],
    tenant: TenantOpt = None,
    group: GroupOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a capability for a tenant (or one of its user groups)."""
    from tether.cli.main import _errors, _with_store

    with _errors():
        check(capability, value)  # before opening the database
    flag = _with_store(
        lambda rt: FlagStore(rt.store.engine).set(
            tenant or rt.settings.tenant, capability, value, group=group
        )
    )
    if as_json:
        typer.echo(json.dumps(flag.to_json()))
    else:
        typer.echo(f"{flag.capability} = {flag.value} for {flag.scope}")


@flags_app.command("unset")
def flags_unset(
    capability: Annotated[str, typer.Argument(help=KNOWN)],
    tenant: TenantOpt = None,
    group: GroupOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a flag: the capability goes back to its default (on; autonomy: the ladder's)."""
    from tether.cli.main import _with_store

    def unset(rt: Runtime) -> tuple[str, bool]:
        who = tenant or rt.settings.tenant
        return who, FlagStore(rt.store.engine).unset(who, capability, group=group)

    who, removed = _with_store(unset)
    if as_json:
        typer.echo(
            json.dumps(
                {"tenant": who, "group": group, "capability": capability, "removed": removed}
            )
        )
    else:
        scope = f"tenant:{who}" if group is None else f"group:{who}/{group}"
        typer.echo(f"{capability} {'unset' if removed else 'was not set'} for {scope}")


def register(app: typer.Typer) -> None:
    """Add ``tether flags`` to the command line."""
    app.add_typer(flags_app, name="flags")
