"""``tether agents list|show|diff|promote|rollback|canary``: agent versions and releases.

A registered current version is what ``tether run --agent NAME``, workers and the service run
(tether/versions); ``promote`` gates a candidate on the agent's evals, ``rollback`` makes the
previous version current in one command, ``canary`` routes a share of new runs to a candidate
and shows how it compares.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tether.cli.main import JsonOpt, _errors, _fail, _out, _runtime, find_agent
from tether.errors import UsageError
from tether.runtime import Runtime
from tether.versions.canary import Canaries, CanaryStatus
from tether.versions.channel import Thresholds
from tether.versions.diff import changes, unified
from tether.versions.registry import ALL_TENANTS, AgentVersion, VersionStore

agents_app = typer.Typer(help="Agent versions: promote, roll back, canary.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="agent name")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who acts (default: cli:$USER)")]
TenantOpt = Annotated[
    str | None, typer.Option(help="only this tenant's runs (default: every tenant)")
]


def routes_by_name(ref: str | None) -> bool:
    """Whether ``tether run --agent REF`` names an agent (routed to its registered version)
    rather than a file (run as it is)."""
    return ref is None or not (ref.endswith((".yaml", ".yml")) or "/" in ref or Path(ref).exists())


def _actor(by: str | None) -> str:
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (a container with an unknown uid)
        return "cli"


def _session() -> tuple[Runtime, VersionStore]:
    rt = _runtime()
    return rt, VersionStore(rt.store.engine)


def _echo_json(body: Any) -> None:
    typer.echo(json.dumps(body, ensure_ascii=False, default=str))


@agents_app.command("list")
def agents_list(as_json: JsonOpt = False) -> None:
    """List agents with registered versions: current version, canaries, version count."""
    with _errors():
        rt, vs = _session()
        try:
            rows: list[dict[str, Any]] = [
                {
                    "agent": name,
                    "current_version": vs.current(name),
                    "versions": len(vs.versions(name)),
                    "channels": [c.to_json() for c in vs.channels(name)],
                }
                for name in vs.agents()
            ]
        finally:
            rt.close()
    if as_json:
        _echo_json(rows)
        return
    out = _out()
    for r in rows:
        canaries = [
            f"canary {c['candidate_version']} {c['canary_share']:.0%} {c['canary_state']}"
            + (f" (tenant {c['tenant']})" if c["tenant"] else "")
            for c in r["channels"]
            if c["canary_state"] != "none"
        ]
        line = f"{r['agent']:<24} current {r['current_version'] or '-':<16} {r['versions']} ver."
        out.print("  ".join([line, *canaries]), highlight=False)
    if not rows:
        out.print("no registered agent versions; register one with `tether agents promote NAME`")


def _resolve(vs: VersionStore, ref: str) -> tuple[str, dict[str, Any], str]:
    """(label, spec, version) of NAME@VERSION, a YAML file, or NAME (its current version,
    else its file)."""
    name, at, version = ref.partition("@")
    if at:
        v = vs.get(name, version)
        return f"{name}@{v.version}", v.spec, v.version
    current = None if not routes_by_name(ref) else vs.current(ref)
    if current is not None:
        v = vs.get(ref, current)
        return f"{ref}@{v.version}", v.spec, v.version
    agent = find_agent(ref)
    return agent.source, agent.portable_spec().model_dump(mode="json"), agent.version


@agents_app.command("show")
def agents_show(
    ref: Annotated[str, typer.Argument(metavar="NAME[@VERSION]", help="agent, or one version")],
    as_json: JsonOpt = False,
) -> None:
    """Show a version's spec (default: the current one), the agent's versions and history."""
    with _errors():
        rt, vs = _session()
        try:
            name = ref.partition("@")[0]
            label, spec, version = _resolve(vs, ref)
            registered = [v for v in vs.versions(name) if v.version == version]
            body = {
                "agent": spec.get("name", name),
                "version": version,
                "source": label,
                "registered": registered[0].to_json() if registered else None,
                "current_version": vs.current(name),
                "spec": spec,
                "versions": [_brief(v) for v in vs.versions(name)],
                "channels": [c.to_json() for c in vs.channels(name)],
                "history": [h.to_json() for h in vs.history(name, limit=20)],
            }
        finally:
            rt.close()
    if as_json:
        _echo_json(body)
        return
    _print_show(body)


def _brief(v: AgentVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "created_at": v.created_at.isoformat(),
        "registered_by": v.registered_by,
        "eval_report": v.eval_report,
    }


def _print_show(body: dict[str, Any]) -> None:
    import yaml

    out = _out()
    mark = " (current)" if body["version"] == body["current_version"] else ""
    out.print(f"{body['agent']} {body['version']}{mark}  from {body['source']}", highlight=False)
    out.print(yaml.safe_dump(body["spec"], sort_keys=True, width=100).rstrip(), highlight=False)
    if body["versions"]:
        out.print("versions:", highlight=False)
    for v in body["versions"]:
        cur = "*" if v["version"] == body["current_version"] else " "
        report = f"  evidence {v['eval_report']}" if v["eval_report"] else ""
        out.print(f" {cur} {v['version']}  {v['created_at'][:19]}  {v['registered_by']}{report}")
    if body["history"]:
        out.print("history:", highlight=False)
    for h in body["history"]:
        moved = f" (from {h['from_version']})" if h["from_version"] else ""
        why = f": {h['reason']}" if h["reason"] else ""
        what = f"{h['action']:<16} {h['version'] or '-'}{moved}"
        out.print(f"   {h['at'][:19]} {what} by {h['actor']}{why}", highlight=False)


@agents_app.command("diff")
def agents_diff(
    a: Annotated[str, typer.Argument(metavar="A", help="NAME@VERSION, NAME or a YAML file")],
    b: Annotated[str, typer.Argument(metavar="B", help="NAME@VERSION, NAME or a YAML file")],
    as_json: JsonOpt = False,
) -> None:
    """What differs between two versions (exit 1 when they differ, like diff)."""
    with _errors():
        rt, vs = _session()
        try:
            (la, sa_, va), (lb, sb, vb) = _resolve(vs, a), _resolve(vs, b)
        finally:
            rt.close()
    found = changes(sa_, sb)
    if as_json:
        _echo_json(
            {
                "a": la,
                "b": lb,
                "version_a": va,
                "version_b": vb,
                "changes": [c.to_json() for c in found],
            }
        )
    else:
        typer.echo(unified(sa_, sb, la, lb) or f"{la} and {lb} are the same version {va}")
    raise typer.Exit(1 if found else 0)


@agents_app.command("promote")
def agents_promote(
    name: NameArg,
    file: Annotated[
        Path | None, typer.Option(help="the candidate's YAML file (default: agents/NAME.yaml)")
    ] = None,
    evals: Annotated[
        list[Path] | None,
        typer.Option("--eval", help="eval dataset (repeat; default: the agent's 'evals')"),
    ] = None,
    max_drop: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="tolerated pass-rate drop below the current version"),
    ] = None,
    skip_evals: Annotated[
        bool, typer.Option("--skip-evals", help="promote without evals (recorded as such)")
    ] = False,
    tenant: TenantOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the candidate current (for every tenant, or --tenant's runs only) if its evals do
    not regress against the current version's (exit 1 and keep the current version
    otherwise); the report is saved as evidence."""
    from tether.agent.spec import load_agent
    from tether.versions.promote import eval_paths, evaluate_promotion, save_report

    actor = _actor(by)
    where = tenant or ALL_TENANTS
    with _errors():
        candidate = load_agent(file) if file is not None else find_agent(name)
        if candidate.name != name:
            raise UsageError(f"{candidate.source} defines agent {candidate.name!r}, not {name!r}")
        datasets = [] if skip_evals else eval_paths(candidate, evals or [])
        if not datasets and not skip_evals:
            raise UsageError(
                f"agent {name!r} declares no evals; add 'evals: [DATASET]' to its file, give "
                "--eval DATASET, or --skip-evals to promote without evidence"
            )
        rt, vs = _session()
        try:
            current_v = vs.current(name, where)
            if current_v == candidate.version:
                raise UsageError(f"version {current_v} of {name!r} is current already")
            current = vs.get(name, current_v).build() if current_v else None
            report = asyncio.run(
                evaluate_promotion(rt.settings, candidate, current, datasets, max_drop=max_drop)
            )
            path = save_report(rt.settings, report)
            vs.register(candidate, by=actor, eval_report=str(path))
            if report.passed:
                vs.promote(
                    name, candidate.version, by=actor, reason=f"evidence: {path}", tenant=where
                )
            else:
                why = "; ".join(report.reasons) + f" (evidence: {path})"
                vs.log(
                    name,
                    "refused",
                    candidate.version,
                    by=actor,
                    reason=why,
                    from_version=current_v,
                    tenant=where,
                )
        finally:
            rt.close()
    if as_json:
        _echo_json(report.to_json() | {"report": str(path)})
    if not report.passed:
        if not as_json:
            _fail(
                f"promotion of {name!r} {candidate.version} refused: "
                f"{'; '.join(report.reasons)}; {current_v} stays current; evidence: {path}",
                1,
            )
        raise typer.Exit(1)
    if not as_json:
        for v in report.verdicts:
            base = v.outcome.baseline
            against = f" (current {base:.0%})" if base is not None else ""
            _out().print(f"  {v.dataset}: {v.outcome.pass_rate:.0%}{against}", highlight=False)
        _out().print(
            f"promoted {name!r} {candidate.version}{_for(tenant)} (was {current_v or 'none'}); "
            f"evidence: {path}",
            highlight=False,
        )


@agents_app.command("rollback")
def agents_rollback(
    name: NameArg,
    to: Annotated[
        str | None, typer.Option(help="version to make current (default: previous)")
    ] = None,
    tenant: TenantOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the previous version (or --to VERSION) current, for every tenant or --tenant's
    runs only: new runs use it at once."""
    with _errors():
        rt, vs = _session()
        try:
            before, after = vs.rollback(name, to, by=_actor(by), tenant=tenant or ALL_TENANTS)
        finally:
            rt.close()
    if as_json:
        where = {"tenant": tenant} if tenant else {}
        _echo_json({"agent": name, **where, "from_version": before, "current_version": after})
    else:
        _out().print(
            f"rolled back {name!r}{_for(tenant)}: {before} -> {after} (current)", highlight=False
        )


@agents_app.command("canary")
def agents_canary(
    name: NameArg,
    file: Annotated[Path | None, typer.Option(help="the candidate's YAML file")] = None,
    version: Annotated[str | None, typer.Option(help="or a registered candidate version")] = None,
    share: Annotated[float, typer.Option(help="fraction of new runs for the candidate")] = 0.1,
    tenant: TenantOpt = None,
    max_drop: Annotated[
        float, typer.Option(min=0, max=1, help="success-rate drop that stops it")
    ] = 0.1,
    min_runs: Annotated[int, typer.Option(min=1, help="finished runs per arm before judging")] = 20,
    max_cost_increase: Annotated[
        float | None, typer.Option(min=0, help="mean cost growth that stops it (0.5: +50%)")
    ] = 0.5,
    max_latency_increase: Annotated[
        float | None, typer.Option(min=0, help="median latency growth that stops it")
    ] = 1.0,
    stop: Annotated[bool, typer.Option("--stop", help="stop the running canary")] = False,
    evals: Annotated[
        list[Path] | None,
        typer.Option("--eval", help="eval dataset (repeat; default: the candidate's 'evals')"),
    ] = None,
    skip_evals: Annotated[
        bool, typer.Option("--skip-evals", help="start without the eval gate")
    ] = False,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a canary (--file or --version), stop it (--stop), or show its status (neither).

    A canary starts only once its candidate passes the agent's evals against the version the
    tenant runs now, like `promote` (exit 1 and no canary otherwise; the report is saved)."""
    from tether.agent.spec import load_agent

    where = tenant or ALL_TENANTS
    with _errors():
        if (file or version) and stop:
            raise UsageError("give --file/--version to start a canary or --stop, not both")
        rt, vs = _session()
        canaries = Canaries(vs)
        try:
            if file is not None or version is not None:
                agent = load_agent(file) if file is not None else None
                if agent is not None and agent.name != name:
                    raise UsageError(f"{file} defines agent {agent.name!r}, not {name!r}")
                agent = agent or vs.get(name, version or "").build()
                evidence = None
                if not skip_evals:
                    evidence = _canary_gate(rt, vs, agent, evals or [], where, _actor(by))
                candidate = vs.register(agent, by=_actor(by), eval_report=evidence).version
                limits = Thresholds(
                    max_drop=max_drop,
                    min_runs=min_runs,
                    max_cost_increase=max_cost_increase,
                    max_latency_increase=max_latency_increase,
                )
                canaries.start(name, candidate, share, limits, tenant=where, by=_actor(by))
            elif stop and not canaries.stop(name, "stopped by hand", tenant=where, by=_actor(by)):
                raise UsageError(f"agent {name!r} has no running canary{_for(tenant)}")
            status = canaries.status(name, where)
        finally:
            rt.close()
    if as_json:
        _echo_json(status.to_json())
    else:
        _print_canary(status)


def _canary_gate(
    rt: Runtime, vs: VersionStore, agent: Any, evals: list[Path], tenant: str, by: str
) -> str:
    """The candidate's evals against the tenant's current version: the evidence's path, or
    exit 1 on a regression (no canary starts)."""
    from tether.versions.canary_gate import gate_canary

    report, path = asyncio.run(gate_canary(rt.settings, vs, agent, evals, tenant=tenant, by=by))
    if not report.passed:
        raise _fail(
            f"canary of {agent.name!r} {agent.version} refused: {'; '.join(report.reasons)}; "
            f"no run goes to it; evidence: {path}",
            1,
        )
    return str(path)


def _for(tenant: str | None) -> str:
    return f" for tenant {tenant!r}" if tenant else ""


def _print_canary(s: CanaryStatus) -> None:
    c, out = s.channel, _out()
    out.print(
        f"canary of {c.agent!r}{_for(c.tenant)}: {c.candidate_version} at {c.canary_share:.0%}, "
        f"{c.canary_state}" + (f" ({c.canary_reason})" if c.canary_reason else ""),
        highlight=False,
    )
    for arm, st in (("current", s.current), ("candidate", s.candidate)):
        lat = "-" if st.median_latency_s is None else f"{st.median_latency_s:.2f}s"
        out.print(
            f"  {arm:<9} {st.runs:>5} runs  success {st.success_rate:>4.0%}  "
            f"mean cost {st.mean_cost_micros / 1e6:.6f}  median latency {lat}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``tether agents`` to the command line."""
    app.add_typer(agents_app, name="agents")
