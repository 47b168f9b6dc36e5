"""The ``tether`` command line (Typer + Rich). Exit codes follow DESIGN §3."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tether.agent.spec import Agent, load_agent
from tether.cli.approvals import app as approvals_app
from tether.cli.memory import memory_app
from tether.cli.memory_tiers import register as register_memory_tiers
from tether.cli.render import print_run, record_json, runs_lines, summary_line
from tether.costs import cost_report
from tether.errors import ConfigError, StoreError, UsageError
from tether.observability import logs
from tether.runtime import Runtime
from tether.settings import load_settings
from tether.team import Team, is_team_file, load_team
from tether.team.report import with_roles
from tether.tools import BUILTIN_TOOLS, ToolRegistry
from tether.types import EXIT_USAGE, RunStatus

app = typer.Typer(
    help="tether: run production AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)
tools_app = typer.Typer(help="Inspect tools.", no_args_is_help=True)
mcp_app = typer.Typer(help="Model Context Protocol.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(tools_app, name="tools")
app.add_typer(mcp_app, name="mcp")
app.add_typer(approvals_app, name="approvals")
app.add_typer(memory_app, name="memory")
register_memory_tiers(memory_app)  # memory profile|episodes|compact

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


def find_runnable(ref: str | None) -> Agent | Team:
    """What ``tether run --agent`` names: an agent, or a team file (``kind: team``)."""
    if ref is not None and is_team_file(ref):
        return load_team(ref)
    return find_agent(ref)


def _runtime(*, durable: bool = False) -> Runtime:
    return Runtime(settings=load_settings(), durable=durable)


JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.command()
def run(
    goal: Annotated[str, typer.Argument(help="what the agent should do")],
    agent: Annotated[str | None, typer.Option(help="agent name or YAML file")] = None,
    model: Annotated[str | None, typer.Option(help="model id, e.g. local:smollm2")] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="queue the run for `tether worker` and return")
    ] = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="print the model's text as it arrives")
    ] = False,
    tenant: Annotated[
        str | None, typer.Option(help="tenant that owns the run (default: TETHER_TENANT)")
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(help="the next turn of this conversation: earlier turns are remembered"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run an agent on GOAL until it finishes or stops; exit code by final status.

    The run is durable: if this process dies, `tether runs resume RUN` (or a worker started
    with --adopt-expired) finishes it without repeating completed steps.
    """
    if detach:
        _detach(goal, agent, model, as_json, tenant, session)
        return
    with _errors():
        rt = _runtime(durable=True)
        rt.route_versions = routes_by_name(agent)  # a name runs its registered version
        try:
            on_delta = _print_delta if stream and not as_json else None
            result = rt.run_sync(
                find_runnable(agent),
                goal,
                model=model,
                on_delta=on_delta,
                tenant=tenant,
                session=session,
            )
            if on_delta is not None:
                typer.echo()
            record = rt.store.runs.get(result.run_id)
            events = rt.store.journal.read(result.run_id)
        finally:
            rt.close()
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        print_run(_out(), record, events, wall_s=result.wall_s)
    raise typer.Exit(result.exit_code)


def _print_delta(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check the model file, database, sandbox and keys; say what to fix (exit 1 if broken)."""
    from tether.cli.doctor import run_checks

    with _errors():
        checks = run_checks(load_settings())
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in checks]))
    else:
        out = _out()
        for c in checks:
            mark = "[green]ok[/]" if c.ok else ("[red]FAIL[/]" if c.required else "[yellow]warn[/]")
            fix = f"  → {c.fix}" if c.fix and not c.ok else ""
            out.print(f"{mark:>14} {c.name:<15} {c.detail}{fix}", highlight=False)
    raise typer.Exit(0 if all(c.ok for c in checks if c.required) else 1)


def _detach(
    goal: str,
    agent: str | None,
    model: str | None,
    as_json: bool,
    tenant: str | None,
    session: str | None = None,
) -> None:
    def go(rt: Runtime) -> str:
        rt.route_versions = routes_by_name(agent)
        return asyncio.run(
            rt.submit(find_runnable(agent), goal, model=model, tenant=tenant, session=session)
        )

    run_id = _with_store(go)
    typer.echo(json.dumps({"run_id": run_id, "status": "queued"}) if as_json else run_id)


@app.command()
def worker(
    executor_id: Annotated[
        str | None, typer.Option(help="stable id; a restarted worker recovers its own runs")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="runs at once")] = None,
    adopt_expired: Annotated[
        bool, typer.Option("--adopt-expired", help="take over runs of dead executors")
    ] = False,
    grace: Annotated[int, typer.Option(min=0, help="seconds to finish runs on SIGTERM")] = 30,
    agents: Annotated[
        Path, typer.Option(help="agents folder: their cron schedules are registered")
    ] = Path("agents"),
    triggers: Annotated[Path, typer.Option(help="its listeners (event triggers) run here")] = Path(
        "triggers.yaml"
    ),
    notifications: Annotated[
        Path, typer.Option(help="webhooks and alert rules: sent and checked here")
    ] = Path("notifications.yaml"),
) -> None:
    """Execute queued runs until SIGTERM (graceful) or SIGINT."""
    from tether import durable

    with _errors():
        overrides: dict[str, Any] = {}
        if concurrency is not None:
            overrides["worker_concurrency"] = concurrency
        rt = Runtime(settings=load_settings(**overrides), durable=True, route_versions=True)
        logs.configure(rt.settings.log_format, rt.redactor)
        ident = executor_id or rt.settings.executor_id or f"worker-{socket.gethostname()}"
        try:
            durable.serve_worker(
                rt,
                executor_id=ident,
                adopt=adopt_expired,
                grace_s=grace,
                agents_dir=agents,
                triggers_file=triggers,
                notifications_file=notifications,
            )
        finally:
            rt.close()


def _steer(fn: Callable[[Runtime], Any], as_json: bool) -> None:
    record = _with_store(fn)
    if as_json:
        typer.echo(json.dumps(record_json(record), ensure_ascii=False))
    else:
        _out().print(summary_line(record))
    raise typer.Exit(record.status.exit_code)


@runs_app.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    as_json: JsonOpt = False,
) -> None:
    """Finish a run whose process died; refused while its executor's lease is live."""
    from tether import durable

    _steer(lambda rt: asyncio.run(durable.resume_run(rt, run_id)), as_json)


@runs_app.command("cancel")
def runs_cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    as_json: JsonOpt = False,
) -> None:
    """Cancel a run: it stops before its next step."""
    from tether import durable

    _steer(lambda rt: asyncio.run(durable.cancel_run(rt, run_id)), as_json)


@runs_app.command("compensate")
def runs_compensate(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    as_json: JsonOpt = False,
) -> None:
    """Undo RUN's completed writes, newest first, each under policy and approval; exit 1 if
    any could not be undone, 2 if one waits for an approval (run it again once decided)."""
    from tether.agent.compensate import compensate_run

    report = _with_store(lambda rt: asyncio.run(compensate_run(rt, run_id)))
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in report]))
    else:
        out = _out()
        for c in report:
            mark = "[green]undone[/]" if c.ok else f"[red]NOT undone[/]  {c.detail}"
            if c.waiting:
                mark = f"[yellow]WAITING[/]  {c.detail}"
            out.print(f"step {c.step + 1:>3} {c.tool:<20} {mark}", highlight=False)
        if not report:
            out.print("nothing to compensate")
    waiting = any(c.waiting for c in report)
    raise typer.Exit(2 if waiting else 0 if all(c.ok for c in report) else 1)


@runs_app.command("fork")
def runs_fork(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")],
    from_step: Annotated[int, typer.Option("--from", help="first step to execute again")],
    as_json: JsonOpt = False,
) -> None:
    """Start a new run from RUN's journal, executing again from step --from."""
    from tether import durable

    _steer(lambda rt: asyncio.run(durable.fork_run(rt, run_id, from_step)), as_json)


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
    """Show a run: its goal, steps, tool calls with results, answer, usage and costs (per
    model and per tool)."""
    record, events = _with_store(lambda rt: _record_and_events(rt, run_id))
    if as_json:
        costs = with_roles(cost_report(events).to_json(), events)  # per role for a team
        body = record_json(record) | {"costs": costs}
        typer.echo(json.dumps(body, ensure_ascii=False))
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


@mcp_app.command("serve")
def mcp_serve(
    agent: Annotated[str | None, typer.Option(help="serve this agent's tools")] = None,
    transport: Annotated[
        str, typer.Option(help="'stdio', or 'http' (Streamable HTTP on 127.0.0.1)")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="http: loopback address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="http: port to listen on")] = 8765,
) -> None:
    """Serve tether's tools (default: the built-ins) to MCP clients over stdio or HTTP."""
    from tether import mcp_server

    with _errors():
        if transport not in ("stdio", "http"):
            raise UsageError(f"--transport is {transport!r}; use 'stdio' or 'http'")
        settings = load_settings()
        tools = (
            find_agent(agent).resolved_tools(http_allow=settings.http_allow)
            if agent
            else BUILTIN_TOOLS
        )
        if transport == "http":
            mcp_server.check_loopback(host)
            typer.echo(f"serving MCP on http://{host}:{port}/mcp", err=True)
    if transport == "http":
        mcp_server.serve_http(tools, workspace=settings.workspace, host=host, port=port)
    else:
        mcp_server.serve_stdio(tools, workspace=settings.workspace)


from tether.cli import evals, ops  # noqa: E402 - their commands use the helpers above

ops.register(app, runs_app)
evals.register(app, runs_app)

from tether.cli import service  # noqa: E402 - as above

service.register(app, runs_app)

from tether.cli import flags, shadow  # noqa: E402 - as above

flags.register(app)
shadow.register(runs_app)

from tether.cli import agents  # noqa: E402 - as above
from tether.cli.agents import routes_by_name  # noqa: E402

agents.register(app)
from tether.cli import notify  # noqa: E402 - as above

notify.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
