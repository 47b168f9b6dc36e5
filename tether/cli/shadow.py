"""``tether runs shadow RUN... --agent CANDIDATE``: a candidate on production runs' inputs,
with its writes recorded instead of executed; a table (or ``--json``) of what it did
differently per run. Exit 0 whatever the differences (they are the report); 64 on misuse."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tether.errors import UsageError
from tether.release.shadow import ShadowReport, shadow_runs
from tether.runtime import Runtime
from tether.types import RunStatus


def _production_runs(rt: Runtime, agent: str, last: int) -> list[str]:
    records = [
        r
        for r in rt.store.runs.list(agent=agent, limit=max(last * 4, 50), shadows=False)
        if r.status.is_final and r.status is not RunStatus.PAUSED
    ]
    if not records:
        raise UsageError(
            f"agent {agent!r} has no finished production runs to shadow; "
            "name runs (tether runs shadow RUN...) or run the agent first"
        )
    return [r.id for r in records[:last]]


def shadow_command(
    runs: Annotated[
        list[str] | None,
        typer.Argument(metavar="RUN...", help="production run ids or unique prefixes"),
    ] = None,
    agent: Annotated[str, typer.Option(help="the candidate: an agent YAML file or name")] = "",
    last: Annotated[
        int | None,
        typer.Option(min=1, max=1000, help="without RUN: the newest N runs of the agent's name"),
    ] = None,
    model: Annotated[str | None, typer.Option(help="model id (default: the candidate's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Run the --agent candidate on the inputs of production runs (RUN..., or the --last N
    runs of the candidate's agent) with write tools recorded, never executed, and reads
    answered from the runs' recorded results; report the differences in tool calls and
    answers. Shadow runs are stored, marked as shadows, and left out of KPIs and costs."""
    from tether.cli.main import _errors, _runtime, find_agent

    with _errors():
        if not agent:
            raise UsageError("give the candidate with --agent FILE (an agent YAML file or name)")
        if bool(runs) == (last is not None):
            raise UsageError("name the runs to shadow (RUN...) or give --last N, not both")
        rt = _runtime()
        try:
            candidate = find_agent(agent)
            ids = list(runs or []) or _production_runs(rt, candidate.name, last or 1)
            reports = asyncio.run(shadow_runs(rt, ids, candidate, model=model))
        finally:
            rt.close()
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in reports], ensure_ascii=False))
        return
    _print(reports)


def _print(reports: list[ShadowReport]) -> None:
    out = Console(soft_wrap=True)
    table = Table(title="shadow runs")
    for column in ("run", "shadow", "result", "writes recorded", "differences"):
        table.add_column(column)
    for r in reports:
        shown = "\n".join(d.detail for d in r.differences) or "-"
        mark = "[green]same[/]" if r.same else f"[yellow]{len(r.differences)} differ[/]"
        table.add_row(r.run_id, r.shadow_id, mark, str(r.writes_recorded), shown)
    out.print(table)


def register(runs_app: typer.Typer) -> None:
    """Add ``tether runs shadow`` to the command line."""
    runs_app.command("shadow")(shadow_command)
