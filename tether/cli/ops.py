"""Operator commands: ``tether kill``, ``tether runs pause`` and ``tether runs steer``.

Registered on the main app by :func:`register`. They only write to the store: the runs they
concern, in whatever process executes them, act on them before their next step.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tether.cli.main import JsonOpt, _out, _steer, _with_store
from tether.runtime import Runtime

RunArg = Annotated[str, typer.Argument(metavar="RUN", help="run id or unique prefix")]


def kill(
    agent: Annotated[str | None, typer.Option(help="only runs of this agent")] = None,
    tool: Annotated[str | None, typer.Option(help="only this tool: its calls are refused")] = None,
    reason: Annotated[str, typer.Option(help="why; shown in the runs' journals")] = "",
    lift: Annotated[bool, typer.Option("--lift", help="lift the switch instead")] = False,
    tenant: Annotated[
        str, typer.Option(help="only this tenant's runs (default: every tenant's)")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Stop every running run (or an agent's runs, or a tool) before its next step.

    A global or agent switch ends runs as `killed` and refuses new ones; a tool switch makes
    that tool's calls fail with `tool_killed`. It stays until lifted with --lift (with the
    same --tenant: a tenant's switch, as `POST /v1/kill` sets one, is lifted for that tenant).
    `tether kill --json` alone lists the active switches.
    """
    from tether.governance import operator

    if as_json and not (agent or tool or reason or lift or tenant):
        switches = _with_store(lambda rt: rt.store.controls.active())
        typer.echo(json.dumps([s.to_json() for s in switches], ensure_ascii=False))
        return

    def go(rt: Runtime) -> dict[str, Any]:
        scope, target = operator.scope_of(agent, tool)
        if lift:
            lifted = operator.lift(rt, scope, target, tenant=tenant)
            return {"lifted": [s.to_json() for s in lifted]}
        done = operator.kill(rt, scope, target, reason, tenant=tenant)
        return {"switch": done.switch.to_json(), "created": done.created, "runs": done.runs}

    result = _with_store(go)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    elif "lifted" in result:
        _out().print(f"lifted {len(result['lifted'])} kill switch(es)", highlight=False)
    else:
        sw = result["switch"]
        what = "global" if sw["scope"] == "global" else f"{sw['scope']} {sw['target']!r}"
        state = "set" if result["created"] else "was already set"
        _out().print(
            f"kill switch {what} {state}; {len(result['runs'])} running run(s) told to stop",
            highlight=False,
        )


def runs_pause(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """Pause a running run: it stops before its next step and holds no worker; resume it with
    `tether runs resume RUN`."""
    from tether import durable

    _steer(lambda rt: durable.pause_run(rt, run_id), as_json)


def runs_steer(
    run_id: RunArg,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="the instruction")],
    as_json: JsonOpt = False,
) -> None:
    """Give a run an instruction: its agent sees it at its next step, marked as an operator's."""
    from tether.governance import operator

    record = _with_store(lambda rt: operator.steer(rt, run_id, text))
    if as_json:
        typer.echo(json.dumps({"run_id": record.id, "steered": True}))
    else:
        _out().print(f"run {record.id}: instruction queued for its next step", highlight=False)


def register(app: typer.Typer, runs_app: typer.Typer) -> None:
    app.command("kill")(kill)
    runs_app.command("pause")(runs_pause)
    runs_app.command("steer")(runs_steer)


__all__ = ["register"]
