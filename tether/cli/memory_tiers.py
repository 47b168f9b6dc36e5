"""``tether memory profile set|get|list|delete``, ``tether memory episodes`` and
``tether memory compact``: the profile and episodic tiers from the command line.

Every command takes ``--tenant`` (default ``TETHER_TENANT``) and reads or writes only that
tenant's rows. What a person writes here is recorded with trust ``user`` and source ``cli``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from tether.cli.forget import master_key
from tether.cli.memory import JsonOpt, TenantOpt, _fail
from tether.clock import SystemClock
from tether.errors import ConfigError, StoreError, TetherError, UsageError
from tether.memory.episodic import EpisodicStore
from tether.memory.lifecycle import compact
from tether.memory.profile import ProfileStore
from tether.privacy.keys import Keyring
from tether.privacy.seal import Sealer
from tether.settings import Settings, load_settings
from tether.store import make_engine, migrate

profile_app = typer.Typer(help="Profile memory: a subject's preferences by scope.")

ScopeArg = Annotated[str, typer.Argument(help="profile scope, e.g. preferences")]
SubjectArg = Annotated[str, typer.Argument(help="whom the profile is about (a user id)")]


@contextmanager
def _engine() -> Iterator[tuple[Any, Settings]]:
    try:
        settings = load_settings()
        engine = make_engine(settings.db_url, pool_size=settings.db_pool_size)
        try:
            migrate(engine)
            yield engine, settings
        finally:
            engine.dispose()
    except (ConfigError, UsageError) as exc:
        raise _fail(str(exc)) from None
    except StoreError as exc:
        raise _fail(f"database error: {exc}", 1) from None
    except TetherError as exc:
        raise _fail(str(exc), 1) from None


def _sealer(engine: Any, settings: Settings) -> Sealer:
    """Seals and opens the tiers' PII with subjects' keys (the master key read on first need)."""
    return Sealer(Keyring(engine, lambda: master_key(settings)))


def _profile(engine: Any, settings: Settings) -> ProfileStore:
    return ProfileStore(engine, sealer=_sealer(engine, settings))


def _value(text: str) -> Any:
    """A JSON value if ``text`` parses as one, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@profile_app.command("set")
def profile_set(
    subject: SubjectArg,
    scope: ScopeArg,
    key: Annotated[str, typer.Argument(help="the preference's name")],
    value: Annotated[str, typer.Argument(help="its value (JSON, or plain text)")],
    reason: Annotated[str, typer.Option(help="why it is recorded")] = "",
    ttl: Annotated[float | None, typer.Option(help="seconds until it expires")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set one key of a subject's profile."""
    with _engine() as (engine, settings):
        entry = _profile(engine, settings).set(
            tenant or settings.tenant,
            subject,
            scope,
            key,
            _value(value),
            trust="user",
            source="cli",
            reason=reason,
            ttl_s=ttl,
        )
    typer.echo(json.dumps(entry.to_json(), ensure_ascii=False) if as_json else entry.id)


@profile_app.command("get")
def profile_get(
    subject: SubjectArg,
    scope: ScopeArg,
    key: Annotated[str, typer.Argument(help="the preference's name")],
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one key of a subject's profile (exit 1 if it is not set)."""
    with _engine() as (engine, settings):
        entry = _profile(engine, settings).get(tenant or settings.tenant, subject, scope, key)
    if entry is None:
        raise _fail(f"{subject!r} has no {scope}.{key} in this tenant", 1)
    if as_json:
        typer.echo(json.dumps(entry.to_json(), ensure_ascii=False))
    else:
        typer.echo(json.dumps(entry.value, ensure_ascii=False))


@profile_app.command("list")
def profile_list(
    subject: SubjectArg,
    scope: Annotated[list[str] | None, typer.Option(help="only these scopes (repeatable)")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a subject's profile entries."""
    with _engine() as (engine, settings):
        store = _profile(engine, settings)
        entries = store.entries(tenant or settings.tenant, subject, scopes=scope)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in entries], ensure_ascii=False))
        return
    out = Console(soft_wrap=True)
    for e in entries:
        value = json.dumps(e.value, ensure_ascii=False)
        out.print(f"{e.scope}.{e.key} = {value} [dim]({e.trust}, {e.source})[/]", highlight=False)
    if not entries:
        out.print("no entries")


@profile_app.command("delete")
def profile_delete(
    subject: SubjectArg,
    scope: ScopeArg,
    key: Annotated[str, typer.Argument(help="the preference's name")],
    tenant: TenantOpt = None,
) -> None:
    """Delete one key of a subject's profile."""
    with _engine() as (engine, settings):
        gone = _profile(engine, settings).delete(tenant or settings.tenant, subject, scope, key)
    typer.echo("deleted" if gone else "not found")


def episodes(
    agent: Annotated[str | None, typer.Option(help="only this agent's episodes")] = None,
    subject: Annotated[str | None, typer.Option(help="only this subject's episodes")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="how many, newest first")] = 20,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List episodes (one per finished run of an agent with episodic memory)."""
    with _engine() as (engine, settings):
        found = EpisodicStore(engine, sealer=_sealer(engine, settings)).recent(
            tenant or settings.tenant, agent=agent, subject=subject, limit=limit
        )
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in found], ensure_ascii=False))
        return
    out = Console(soft_wrap=True)
    for e in found:
        tools = ", ".join(dict.fromkeys(a.tool for a in e.actions)) or "no tools"
        out.print(
            f"{e.created_at:%Y-%m-%d %H:%M} [bold]{e.outcome}[/] {e.agent} {e.run_id} ({tools})",
            highlight=False,
        )
        out.print("   " + " ".join(e.task.split())[:200], highlight=False, markup=False)
    if not found:
        out.print("no episodes")


def compact_command(
    max_episodes: Annotated[
        int | None, typer.Option(min=0, help="episodes kept per subject (newest)")
    ] = None,
    max_profile_keys: Annotated[
        int | None, typer.Option(min=1, help="profile keys kept per subject (newest)")
    ] = None,
    tenant: TenantOpt = None,
    all_tenants: Annotated[
        bool, typer.Option("--all-tenants", help="every tenant's rows (maintenance)")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete expired episodes and profile entries, then trim each subject to the caps."""
    with _engine() as (engine, settings):
        done = compact(
            engine,
            SystemClock().now(),
            tenant=None if all_tenants else tenant or settings.tenant,
            max_episodes=max_episodes,
            max_profile_keys=max_profile_keys,
        )
    if as_json:
        typer.echo(json.dumps(done.to_json()))
        return
    typer.echo(
        f"expired {len(done.expired['episodic'])} episodes, {len(done.expired['profile'])} "
        f"profile entries; trimmed {len(done.trimmed['episodic'])} episodes, "
        f"{len(done.trimmed['profile'])} profile entries"
    )


def register(memory_app: typer.Typer) -> None:
    """Add these commands to ``tether memory``."""
    memory_app.add_typer(profile_app, name="profile")
    memory_app.command("episodes")(episodes)
    memory_app.command("compact")(compact_command)
