"""``tether memory``: ingest files, add items, search (hybrid, vector or full text)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tether.cli.forget import forget, master_key
from tether.errors import ConfigError, StoreError, TetherError, UsageError
from tether.memory import Filters, MemoryItem, Mode, SemanticStore, Trust, make_embedder
from tether.memory.extract import find_documents
from tether.memory.ingest import ingest_paths
from tether.privacy.keys import Keyring
from tether.privacy.seal import Sealer
from tether.settings import Settings, load_settings
from tether.store import make_engine, migrate
from tether.types import EXIT_USAGE

memory_app = typer.Typer(help="Semantic memory: ingest, add, search, forget.", no_args_is_help=True)
memory_app.command("forget")(forget)

TenantOpt = Annotated[str | None, typer.Option(help="tenant (default: TETHER_TENANT)")]
ScopeOpt = Annotated[str, typer.Option(help="scope the items belong to")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def _memory() -> Iterator[tuple[SemanticStore, Settings]]:
    try:
        settings = load_settings()
        key = settings.embed_api_key or settings.openai_api_key
        embedder = make_embedder(
            settings.embed_model,
            base_url=settings.embed_base_url,
            api_key=key.get_secret_value() if key else None,
        )
        engine = make_engine(settings.db_url, pool_size=settings.db_pool_size)
        try:
            migrate(engine)
            sealer = Sealer(Keyring(engine, lambda: master_key(settings)))
            store = SemanticStore(
                engine, embedder, cache_ttl_s=settings.memory_cache_ttl_s, sealer=sealer
            )
            yield store, settings
        finally:
            engine.dispose()
            close = getattr(embedder, "close", None)
            if close is not None:
                close()
    except (ConfigError, UsageError) as exc:
        raise _fail(str(exc)) from None
    except StoreError as exc:
        raise _fail(f"database error: {exc}", 1) from None
    except TetherError as exc:
        raise _fail(str(exc), 1) from None


def _trust(value: str) -> Trust:
    levels: tuple[Trust, ...] = get_args(Trust)
    for level in levels:
        if value == level:
            return level
    raise UsageError(f"--trust is {value!r}; use one of {', '.join(levels)}")


@memory_app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="files or folders")],
    tenant: TenantOpt = None,
    scope: ScopeOpt = "default",
    subject: Annotated[str | None, typer.Option(help="subject the items are about")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest Markdown, text, HTML and PDF files (folders recursively) with a progress bar."""
    with _memory() as (store, settings):
        files = [f for p in paths for f in find_documents(p)]
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        console = Console(stderr=True)
        with Progress(*columns, TimeElapsedColumn(), console=console, disable=as_json) as bar:
            task = bar.add_task("ingesting", total=len(files))

            def advance(file: Path, _count: int) -> None:
                bar.update(task, advance=1, description=f"ingesting {file.name}")

            report = ingest_paths(
                store,
                tenant or settings.tenant,
                files,
                scope=scope,
                subject=subject,
                on_file=advance,
            )
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        typer.echo(
            f"{report.files} files, {report.chunks} chunks stored, "
            f"{report.skipped} unchanged files skipped"
        )


@memory_app.command("add")
def add(
    text: Annotated[str, typer.Argument(help="what to remember")],
    tenant: TenantOpt = None,
    scope: ScopeOpt = "default",
    subject: Annotated[str | None, typer.Option(help="subject the item is about")] = None,
    trust: Annotated[str, typer.Option(help="origin: user, tool or retrieval")] = "user",
    ttl: Annotated[float | None, typer.Option(help="seconds until it expires")] = None,
    source: Annotated[str, typer.Option(help="where it came from")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Remember one piece of text."""
    with _memory() as (store, settings):
        if not text.strip():
            raise _fail("the text to add is empty; give the text to remember")
        item = MemoryItem(
            text=text,
            source=source,
            scope=scope,
            subject=subject,
            trust=_trust(trust),
            ttl_s=ttl,
            end=len(text),
        )
        [item_id] = store.add(tenant or settings.tenant, [item])
    typer.echo(json.dumps({"id": item_id}) if as_json else item_id)


@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="how many results")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, vector or fulltext")] = "hybrid",
    tenant: TenantOpt = None,
    scope: Annotated[str | None, typer.Option(help="only this scope")] = None,
    subject: Annotated[str | None, typer.Option(help="only this subject")] = None,
    trust: Annotated[list[str] | None, typer.Option(help="only these origins (repeatable)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search memory: vectors and full text fused by reciprocal rank (or one of them)."""
    with _memory() as (store, settings):
        modes: tuple[Mode, ...] = get_args(Mode)
        if mode not in modes:
            raise _fail(f"--mode is {mode!r}; use one of {', '.join(modes)}")
        levels = frozenset(_trust(t) for t in trust) if trust else None
        filters = Filters(scope=scope, subject=subject, trust=levels)
        chosen = next(m for m in modes if m == mode)
        hits = store.search(tenant or settings.tenant, query, k=k, mode=chosen, filters=filters)
    if as_json:
        typer.echo(json.dumps([h.to_json() for h in hits], ensure_ascii=False))
        return
    out = Console(soft_wrap=True)
    for n, h in enumerate(hits, start=1):
        where = " > ".join(h.heading)
        out.print(
            f"[bold]{n}.[/] {h.source}:{h.start}-{h.end} [dim]{where}[/] "
            f"[dim]({h.trust}, score {h.score:.4f})[/]",
            highlight=False,
        )
        out.print("   " + " ".join(h.text.split())[:300], highlight=False, markup=False)
    if not hits:
        out.print("no results")
