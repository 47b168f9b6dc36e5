"""``tether memory forget SUBJECT``: destroy a subject's key and delete their rows (forget-me)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from tether.errors import ConfigError, StoreError, TetherError, UsageError
from tether.privacy.forget import forget_subject
from tether.privacy.keys import MasterKey, load_master_key
from tether.settings import Settings, load_settings
from tether.store import make_engine, migrate
from tether.types import EXIT_USAGE


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def master_key(settings: Settings) -> MasterKey:
    """``TETHER_MASTER_KEY``, or the key file in ``TETHER_HOME`` (made on first use)."""
    value = settings.master_key.get_secret_value() if settings.master_key else None
    return load_master_key(value, settings.home)


def forget(
    subject: Annotated[str, typer.Argument(help="the subject to forget")],
    tenant: Annotated[str | None, typer.Option(help="tenant (default: TETHER_TENANT)")] = None,
    vacuum: Annotated[
        bool, typer.Option(help="SQLite: rebuild the file so no stale copy survives")
    ] = True,
    by: Annotated[str, typer.Option(help="who asked (kept in the forget log)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Forget a subject: destroy their data key (what was sealed with it stays unreadable
    everywhere) and delete their memory rows; the forget log keeps a hash, counts and time."""
    try:
        settings = load_settings()
        engine = make_engine(settings.db_url, pool_size=settings.db_pool_size)
        try:
            migrate(engine)
            report = forget_subject(
                engine,
                master_key(settings),
                tenant or settings.tenant,
                subject,
                by=by,
                vacuum=vacuum,
            )
        finally:
            engine.dispose()
    except (ConfigError, UsageError) as exc:
        raise _fail(str(exc)) from None
    except StoreError as exc:
        raise _fail(f"database error: {exc}", 1) from None
    except TetherError as exc:
        raise _fail(str(exc), 1) from None
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    rows = sum(report.counts.values())
    typer.echo(
        f"forgot subject {report.subject_hash[:12]}… of tenant {report.tenant!r}: "
        f"{rows} rows deleted, {report.keys} data key destroyed"
    )
