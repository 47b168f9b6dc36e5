"""``tether approvals list|show|approve|deny|sweep`` (DESIGN §3).

Deciding does not execute the run: the decision is recorded and the run's next segment is
queued for a ``tether worker`` (through DBOS's client; this process never launches DBOS) —
unless ``--run-here`` asks to execute it in this process.
"""

from __future__ import annotations

import asyncio
import difflib
import getpass
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console

from tether.cli.render import short
from tether.errors import ConfigError, StoreError, UsageError
from tether.governance.approvals import Approvals
from tether.runtime import Runtime
from tether.settings import load_settings
from tether.store.approvals import OPEN, STATUSES, ApprovalRecord
from tether.types import EXIT_USAGE

app = typer.Typer(help="Review calls that wait for a person.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ByOpt = Annotated[
    str | None, typer.Option("--by", help="who decides (default: TETHER_USER, else your login)")
]
HereOpt = Annotated[
    bool,
    typer.Option("--run-here", help="execute the run's next segment in this process"),
]


def _fail(message: str) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(EXIT_USAGE)


def _with(
    fn: Callable[[Approvals, Runtime], Any], *, here: bool = False, durable: bool = False
) -> Any:
    try:
        rt = Runtime(settings=load_settings(), durable=durable)
        try:
            return fn(Approvals(rt, resume="here" if here else "enqueue"), rt)
        finally:
            rt.close()
    except (ConfigError, UsageError) as exc:
        raise _fail(str(exc)) from None
    except StoreError as exc:
        raise _fail(f"database error: {exc}") from None


def _by(by: str | None) -> str:
    return by or load_settings().user or getpass.getuser()


@app.command("list")
def list_(
    status: Annotated[
        str, typer.Option(help=f"open (pending or escalated), all, or one of {', '.join(STATUSES)}")
    ] = "open",
    tool: Annotated[str | None, typer.Option(help="only calls of this tool")] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant's runs")] = None,
    reviewers: Annotated[str | None, typer.Option(help="only this reviewer group")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List approvals, oldest first (default: those waiting for a decision)."""
    chosen = {"open": OPEN, "all": None}.get(status, (status,))
    found = _with(lambda a, _: a.list(status=chosen, tool=tool, tenant=tenant, reviewers=reviewers))
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in found], ensure_ascii=False))
        return
    out = Console(soft_wrap=True)
    if not found:
        out.print("no approvals" if status == "all" else f"no {status} approvals")
    for r in found:
        votes = f"{len(r.approved_by())}/{r.approvers}"
        due = f" due {r.deadline:%Y-%m-%d %H:%M}" if r.deadline and r.is_open else ""
        out.print(
            f"{r.id}  {r.status:<9} {r.subject:<20} {votes} {r.reviewers}{due}  "
            f"{r.run_id}  {short(r.arguments, 60)}",
            highlight=False,
        )


@app.command()
def show(
    approval: Annotated[str, typer.Argument(metavar="ID", help="approval id or unique prefix")],
    as_json: JsonOpt = False,
) -> None:
    """Show what a call would change, the agent's reason, its evidence and the arguments."""
    record = _with(lambda a, _: a.get(approval))
    if as_json:
        typer.echo(json.dumps(record.to_json(), ensure_ascii=False))
        return
    print_approval(Console(soft_wrap=True), record)


@app.command()
def approve(
    approvals: Annotated[
        list[str] | None, typer.Argument(metavar="ID...", help="approval ids")
    ] = None,
    edit: Annotated[
        str | None, typer.Option(help="approve with these arguments instead (a JSON object)")
    ] = None,
    by: ByOpt = None,
    reason: Annotated[str | None, typer.Option(help="why (kept with the decision)")] = None,
    all_pending: Annotated[
        bool, typer.Option("--all-pending", help="every open tier-1 approval (with --tool)")
    ] = False,
    tool: Annotated[str | None, typer.Option(help="with --all-pending: only this tool")] = None,
    run_here: HereOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve one call (optionally edited), several, or all open tier-1 calls of a tool."""
    ids = list(approvals or [])
    if all_pending == bool(ids):
        raise _fail("give approval ids, or --all-pending (optionally with --tool)")
    if edit is not None and len(ids) != 1:
        raise _fail("--edit applies to one approval: give exactly one ID")
    changed = _parse_edit(edit)
    who = _by(by)

    def go(a: Approvals, rt: Runtime) -> list[ApprovalRecord]:
        if all_pending:
            chosen = [r.id for r in a.list(tool=tool) if r.side_effect != "high_risk"]
            if not chosen:
                raise UsageError("no open tier-1 approvals" + (f" for {tool!r}" if tool else ""))
            decided = a.approve_batch(chosen, who, reason=reason)
        elif len(ids) > 1:
            decided = a.approve_batch(ids, who, reason=reason)
        else:
            decided = [a.approve(ids[0], who, edit=changed, reason=reason)]
        return decided + _run_here(a, rt, decided) if run_here else decided

    _report(_with(go, here=run_here, durable=run_here), as_json)


@app.command()
def deny(
    approval: Annotated[str, typer.Argument(metavar="ID", help="approval id or unique prefix")],
    reason: Annotated[str, typer.Option(help="why: the agent is told")],
    by: ByOpt = None,
    run_here: HereOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Deny a call with a reason; the agent gets the reason as the call's result."""
    who = _by(by)

    def go(a: Approvals, rt: Runtime) -> list[ApprovalRecord]:
        decided = [a.deny(approval, who, reason)]
        return decided + _run_here(a, rt, decided) if run_here else decided

    _report(_with(go, here=run_here, durable=run_here), as_json)


@app.command()
def sweep(as_json: JsonOpt = False) -> None:
    """Apply deadlines (escalate or deny) and queue decided runs (workers do this too)."""
    report = _with(lambda a, _: a.sweep())
    data = {"escalated": report.escalated, "expired": report.expired, "resumed": report.resumed}
    typer.echo(json.dumps(data) if as_json else " ".join(f"{k}: {len(v)}" for k, v in data.items()))


def _run_here(a: Approvals, rt: Runtime, decided: Sequence[ApprovalRecord]) -> list[Any]:
    runs = dict.fromkeys(
        r.run_id
        for r in decided
        if r.resumed_at is not None and r.target != "compensation"  # `runs compensate` goes on
    )
    return [asyncio.run(a.run_here(run_id)) for run_id in runs]


def _parse_edit(edit: str | None) -> dict[str, Any] | None:
    if edit is None:
        return None
    try:
        value = json.loads(edit)
    except ValueError as exc:
        raise _fail(
            f"--edit is not valid JSON ({exc}); give an object like '{{\"n\": 1}}'"
        ) from None
    if not isinstance(value, dict):
        raise _fail("--edit must be a JSON object of the tool's arguments")
    return value


def _report(items: list[Any], as_json: bool) -> None:
    records = [i for i in items if isinstance(i, ApprovalRecord)]
    results = [i for i in items if not isinstance(i, ApprovalRecord)]
    if as_json:
        data: dict[str, Any] = {"approvals": [r.to_json() for r in records]}
        if results:
            data["runs"] = [r.to_json() for r in results]
        typer.echo(json.dumps(data, ensure_ascii=False))
    else:
        out = Console(soft_wrap=True)
        for r in records:
            votes = f" ({len(r.approved_by())}/{r.approvers} approvers)" if r.is_open else ""
            went = "; run queued for a worker" if r.resumed_at and not results else ""
            if r.target == "compensation" and not r.is_open:
                went = f"; `tether runs compensate {r.run_id}` goes on with the undo"
            out.print(f"{r.id} {r.status}{votes}{went}", highlight=False)
        for res in results:
            out.print(f"{res.run_id} {res.status.value}: {res.output or res.reason or ''}")
    raise typer.Exit(max((r.exit_code for r in results), default=0))


def print_approval(out: Console, r: ApprovalRecord) -> None:
    out.print(f"[bold]{r.id}[/] {r.status}  {r.target} {r.subject!r} ({r.side_effect or '-'})")
    out.print(f"run {r.run_id} step {r.step + 1} call {r.index}  tenant {r.tenant}")
    out.print(
        f"needs {r.approvers} approver(s), has {len(r.approved_by())}; reviewers {r.reviewers}"
        + (f"; deadline {r.deadline.isoformat()}" if r.deadline else "")
        + (f"; escalates to {r.escalate_to}" if r.escalate_to else "")
    )
    why = "; ".join(r.policy.get("messages", [])) or ", ".join(r.policy.get("reasons", []))
    out.print(f"[bold]policy:[/] {why}", highlight=False)
    out.print(f"[bold]agent's reason:[/] {r.stated_reason or '(none given)'}", highlight=False)
    out.print("[bold]arguments:[/] " + json.dumps(r.arguments, ensure_ascii=False), highlight=False)
    if r.change is not None:
        out.print("[bold]change:[/]")
        for line in change_lines(r.change):
            out.print("  " + line, highlight=False, markup=False)
    out.print(f"[bold]evidence[/] ({len(r.evidence)} tool results):")
    for e in r.evidence:
        out.print(f"  {e['event_id']} {e['tool']}: {e['excerpt']}", highlight=False, markup=False)
    for v in r.decisions:
        edited = f" with {json.dumps(v.arguments)}" if v.arguments is not None else ""
        out.print(
            f"  {v.at:%Y-%m-%d %H:%M:%S} {v.by} {v.verdict}{edited}: {v.reason or ''}",
            highlight=False,
            markup=False,
        )


def change_lines(change: dict[str, Any]) -> list[str]:
    """A unified diff of ``before`` and ``after`` (as indented JSON)."""
    if "error" in change:
        return [str(change["error"])]

    def dump(v: Any) -> list[str]:
        return json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True).splitlines()

    diff = difflib.unified_diff(
        dump(change["before"]), dump(change["after"]), "before", "after", lineterm=""
    )
    return list(diff) or ["(no change)"]
