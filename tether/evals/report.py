"""Reports of an eval run: a Rich table for the terminal and the JSON form (``--json``).

The JSON report is ``EvalResult.to_json()`` plus the gate's outcome and the per-run
automatic checks' violations read from each attempt's journal.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from tether.evals.gate import GateOutcome
from tether.evals.runner import EvalResult
from tether.events import CheckViolation


def violations(result: EvalResult) -> list[dict[str, Any]]:
    """Every ``check_violation`` journaled by the runs of ``result``."""
    out = []
    for a in result.attempts:
        for e in a.obs.events:
            if isinstance(e.payload, CheckViolation):
                out.append(
                    {"case": a.case_id, "run_id": a.obs.run_id}
                    | e.payload.model_dump(mode="json", exclude={"kind"})
                )
    return out


def report_json(result: EvalResult, gate: GateOutcome | None = None) -> dict[str, Any]:
    body = result.to_json()
    body["violations"] = violations(result)
    body["gate"] = gate.to_json() if gate is not None else None
    return body


def _rate(p: int, n: int) -> str:
    return f"{p}/{n} ({p / n:.0%})" if n else "0/0"


def print_report(console: Console, result: EvalResult, gate: GateOutcome | None = None) -> None:
    """The summary, the cases that failed, pass rates by tag and failures by component."""
    attempts = result.attempts
    passed = sum(a.passed for a in attempts)
    head = (
        f"[bold]{result.dataset}[/] agent {result.agent or '-'} model {result.model or '-'}: "
        f"{_rate(passed, len(attempts))} attempts passed"
    )
    if result.repeat > 1:
        head += (
            f"; pass@{result.repeat} {result.pass_at_k():.0%}, "
            f"pass^{result.repeat} {result.pass_hat_k():.0%}"
        )
    console.print(head + f" in {result.wall_s:.1f} s", highlight=False)
    failed = Table("case", "attempt", "status", "component", "why", title="failed attempts")
    for a in attempts:
        if not a.passed:
            why = a.failure.why if a.failure is not None else ""
            comp = a.failure.component if a.failure is not None else ""
            failed.add_row(a.case_id, str(a.attempt), a.obs.status, comp, why[:80])
    if failed.row_count:
        console.print(failed)
    tags = Table("tag", "passed", title="pass rate by tag")
    for tag, (p, n) in result.by_tag().items():
        tags.add_row(tag, _rate(p, n))
    console.print(tags)
    groups = result.failures()
    if groups:
        comps = Table("component", "failures", "example runs", title="error analysis")
        for g in groups:
            runs = ", ".join(f"{x['case']} ({x['run_id'] or '-'})" for x in g.examples)
            comps.add_row(g.component, str(g.count), runs)
        console.print(comps)
    found = violations(result)
    if found:
        table = Table("case", "check", "detail", title="automatic run checks")
        for v in found:
            table.add_row(v["case"], v["check"], v["detail"][:90])
        console.print(table)
    if gate is not None:
        mark = "[green]gate passed[/]" if gate.passed else "[red]gate FAILED[/]"
        console.print(f"{mark}: " + ("; ".join(gate.reasons) or f"{gate.pass_rate:.1%}"))
