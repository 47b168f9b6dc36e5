"""The ``tether`` command line (Typer + Rich). Exit codes follow DESIGN §3."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tether.agent.spec import Agent, load_agent
from tether.cli.render import print_run, record_json, runs_lines
from tether.errors import ConfigError, StoreError, UsageError
from tether.runtime import Runtime
from tether.settings import load_settings
from tether.tools import ToolRegistry
from tether.types import EXIT_USAGE, RunStatus

app = typer.Typer(
    help="tether: run production AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)
tools_app = typer.Typer(help="Inspect tools.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(tools_app, name="tools")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEFAULT_AGENT = "assistant"


def _out() -> Console:
    return Console(soft_wrap=True)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Misuse and configuration errors become one line on stderr and exit 64."""
    try:
        yield
    except (ConfigError, UsageError) as exc:
        raise _fail(str(exc)) from None
    except StoreError as exc:
        raise _fail(f"database error: {exc}", 1) from None


def find_agent(ref: str | None) -> Agent:
    """An agent by file path, by name under ``agents/``, or a packaged example."""
    name = ref or DEFAULT_AGENT
    candidates = [Path(name), Path("agents") / f"{name}.yaml", EXAMPLES / f"{name}.yaml"]
    if ref is not None and (ref.endswith((".yaml", ".yml")) or "/" in ref):
        return load_agent(Path(ref))
    for path in candidates:
        if path.is_file():
            return load_agent(path)
    known = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
    raise ConfigError(
        f"no agent {name!r}: give a YAML file, put agents/{name}.yaml in the "
        f"project, or use a packaged one ({', '.join(known)})"
    )


def _runtime() -> Runtime:
    return Runtime(settings=load_settings())


JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.command()
def run(
    goal: Annotated[str, typer.Argument(help="what the agent should do")],
    agent: Annotated[str | None, typer.Option(help="agent name or YAML file")] = None,
    model: Annotated[str | None, typer.Option(help="model id, e.g. local:smollm2")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run an agent on GOAL until it finishes or stops; exit code by final status."""
    with _errors():
        rt = _runtime()
        try:
            result = rt.run_sync(find_agent(agent), goal, model=model)
            record = rt.store.runs.get(result.run_id)
            events = rt.store.journal.read(result.run_id)
        finally:
            rt.close()
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        print_run(_out(), record, events, wall_s=result.wall_s)
    raise typer.Exit(result.exit_code)


def _with_store(fn: Callable[[Runtime], Any]) -> Any:
    with _errors():
        rt = _runtime()
        try:
            return fn(rt)
        finally:
            rt.close()


@runs_app.command("list")
def runs_list(
    status: Annotated[RunStatus | None, typer.Option(help="only runs with this status")] = None,
    agent: Annotated[str | None, typer.Option(help="only runs of this agent")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    records = _with_store(lambda rt: rt.store.runs.list(status=status, agent=agent, limit=limit))
    if as_json:
        typer.echo(json.dumps([record_json(r) for r in records], ensure_ascii=False))
    else:
        out = _out()
        for line in runs_lines(records, out.width):
            out.print(line, no_wrap=True, overflow="ellipsis")


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    as_json: JsonOpt = False,
) -> None:
    """Show a run: its goal, steps, tool calls with results, answer and usage."""
    record, events = _with_store(lambda rt: _record_and_events(rt, run_id))
    if as_json:
        typer.echo(json.dumps(record_json(record), ensure_ascii=False))
    else:
        print_run(_out(), record, events)


def _record_and_events(rt: Runtime, run_id: str) -> tuple[Any, Any]:
    record = rt.store.runs.find(run_id)
    return record, rt.store.journal.read(record.id)


@runs_app.command("events")
def runs_events(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    as_json: JsonOpt = False,
) -> None:
    """Print a run's journal: every event in order."""
    _, events = _with_store(lambda rt: _record_and_events(rt, run_id))
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in events], ensure_ascii=False))
        return
    out = _out()
    for e in events:
        body = json.dumps(
            e.payload.model_dump(mode="json", exclude={"kind"}), ensure_ascii=False, default=str
        )
        out.print(f"{e.seq:>6} {e.key.step:>3} {e.kind:<19} {body[:200]}", highlight=False)


@tools_app.command("list")
def tools_list(
    agent: Annotated[str | None, typer.Option(help="agent name or YAML file")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the tools an agent has (default: the built-in assistant's) with their contracts."""
    with _errors():
        registry = ToolRegistry(find_agent(agent).resolved_tools())
    contracts = list(registry.contracts())
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": c.name,
                        "description": c.description,
                        "side_effect": c.side_effect,
                        "timeout_ms": c.timeout_ms,
                        "idempotent": c.idempotent,
                        "version": c.version,
                        "input_schema": c.input_schema,
                    }
                    for c in contracts
                ],
                ensure_ascii=False,
            )
        )
        return
    table = Table("tool", "side effect", "timeout", "description")
    for c in contracts:
        table.add_row(c.name, c.side_effect, f"{c.timeout_ms} ms", c.description.split("\n")[0])
    _out().print(table)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
