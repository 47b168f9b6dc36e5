"""Human-readable views of runs and their journals (Rich)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from tether.costs import CostReport, cost_report
from tether.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    ModelResponded,
    PolicyDecided,
    RunFinished,
    ToolCallFinished,
    ToolCallStarted,
)
from tether.store import RunRecord
from tether.team.report import role_lines, team_line

_STATUS_STYLE = {"succeeded": "green", "failed": "red", "running": "yellow", "paused": "cyan"}


def short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trace_lines(events: Sequence[Event]) -> list[Text]:
    """One line per model step and tool call, with results, tokens and latency."""
    lines: list[Text] = []
    started: dict[str, ToolCallStarted] = {}
    for event in events:
        p = event.payload
        team = team_line(p)  # a team run: turns, handoffs, the arbiter's decisions
        if team is not None:
            lines.append(Text(team, style="blue"))
        elif isinstance(p, ModelResponded):
            what = (
                "error: " + p.error
                if p.error
                else (
                    "tool calls: " + ", ".join(c["name"] for c in p.tool_calls)
                    if p.tool_calls
                    else "answer"
                )
            )
            lines.append(
                Text.assemble(
                    (f"step {event.key.step + 1:>2} ", "bold"),
                    ("model ", "magenta"),
                    what,
                    (f"  [{p.input_tokens}+{p.output_tokens} tok, {p.latency_ms:.0f} ms]", "dim"),
                )
            )
        elif isinstance(p, PolicyDecided) and p.outcome != "allow":
            why = "; ".join(p.messages) or ", ".join(p.reasons)
            lines.append(
                Text.assemble(
                    "        ",
                    ("policy ", "yellow"),
                    f"{p.outcome.replace('_', ' ')} {p.resource}: ",
                    (short(why, 120), "yellow"),
                )
            )
        elif isinstance(p, ApprovalRequested | ApprovalDecided):
            lines.append(_approval_line(p))
        elif isinstance(p, ToolCallStarted):
            started[p.call_id + str(event.key.step)] = p
        elif isinstance(p, ToolCallFinished):
            s = started.get(p.call_id + str(event.key.step))
            args = short(s.arguments, 80) if s else ""
            result = short(p.result) if p.ok else short(p.error)
            style = "green" if p.ok else "red"
            lines.append(
                Text.assemble(
                    "        ",
                    ("tool ", "cyan"),
                    f"{p.tool}({args}) → ",
                    (result, style),
                    (f"  [{p.latency_ms:.0f} ms]", "dim"),
                )
            )
    return lines


def _approval_line(p: ApprovalRequested | ApprovalDecided) -> Text:
    what = p.tool or p.model or "?"
    if isinstance(p, ApprovalRequested):
        detail = f"requested for {what} ({p.approval_id}; {p.approvers} approver(s))"
        return Text.assemble("        ", ("approval ", "cyan"), detail)
    who = ", ".join(p.by) or "timeout"
    edited = " with edited arguments" if p.edited else ""
    reason = f": {short(p.reason, 120)}" if p.reason else ""
    style = "green" if p.outcome == "approved" else "red"
    return Text.assemble(
        "        ", ("approval ", "cyan"), (f"{p.outcome}", style), f" by {who}{edited}{reason}"
    )


def print_trace(console: Console, events: Sequence[Event]) -> None:
    for line in trace_lines(events):
        console.print(line)


def summary_line(record: RunRecord, wall_s: float | None = None) -> Text:
    style = _STATUS_STYLE.get(record.status.value, "yellow")
    tokens = record.input_tokens + record.output_tokens
    parts = [
        f" · {record.steps} steps · {record.tool_calls} tool calls · {tokens} tokens "
        f"({record.input_tokens} in / {record.output_tokens} out)"
    ]
    if wall_s is not None:
        parts.append(f" · {wall_s:.1f} s")
    return Text.assemble(("status ", "bold"), (record.status.value, style), *parts)


def print_run(
    console: Console, record: RunRecord, events: Sequence[Event], wall_s: float | None = None
) -> None:
    version = f"  version {record.agent_version}" if record.agent_version else ""
    console.print(
        Text.assemble(
            ("run ", "bold"), record.id, "  agent ", record.agent, version, "  model ", record.model
        )
    )
    console.print(Text.assemble(("goal ", "bold"), short(record.goal, 400)))
    print_trace(console, events)
    finished = next(
        (e.payload for e in reversed(events) if isinstance(e.payload, RunFinished)), None
    )
    if record.output:
        console.print(Text.assemble(("answer ", "bold green"), record.output))
    if record.reason:
        console.print(Text.assemble(("reason ", "bold"), record.reason))
    if finished is None and not record.status.is_final:
        console.print(Text("(run has not finished)", style="dim"))
    console.print(summary_line(record, wall_s))
    for line in cost_lines(cost_report(events)):
        console.print(line)
    for role in role_lines(events):  # a team run: what each role spent
        console.print(Text(role))


def cost_lines(report: CostReport) -> list[Text]:
    """``cost`` lines: the total, then each model and each tool that cost something."""
    if report.total == 0:
        return []
    lines = [Text.assemble(("cost ", "bold"), str(report.total))]
    for name, m in sorted(report.models.items()):
        lines.append(Text(f"  model {name}: {m.cost} ({m.calls} calls)"))
    for name, t in sorted(report.tools.items()):
        if t.cost:
            lines.append(Text(f"  tool {name}: {t.cost} ({t.calls} calls)"))
    return lines


def runs_lines(records: Sequence[RunRecord], width: int) -> list[Text]:
    """One line per run: id and status in full (they are copied), then the goal cut to fit."""
    header = Text(
        f"{'run':<23}  {'status':<15}  {'agent':<10} {'steps':>4} {'tokens':>6}  "
        f"{'created':<11}  goal",
        style="bold",
    )
    lines = [header]
    for r in records:
        fixed = (
            f"{r.id:<23}  {r.status.value:<15}  {r.agent[:10]:<10} {r.steps:>4} "
            f"{r.input_tokens + r.output_tokens:>6}  {r.created_at:%m-%d %H:%M}  "
        )
        goal = short(" ".join(r.goal.split()), max(10, width - len(fixed)))
        line = Text(fixed + goal)
        line.stylize(_STATUS_STYLE.get(r.status.value, "yellow"), 25, 25 + len(r.status.value))
        lines.append(line)
    return lines


def record_json(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.id,
        "status": r.status.value,
        "agent": r.agent,
        "agent_version": r.agent_version,
        "tether_version": r.tether_version,
        "executor_id": r.executor_id,
        "model": r.model,
        "goal": r.goal,
        "output": r.output,
        "reason": r.reason,
        "steps": r.steps,
        "tool_calls": r.tool_calls,
        "usage": {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens},
        "cost": str(r.cost),
        "tenant": r.tenant,
        "user_group": r.user_group,
        "shadow_of": r.shadow_of,
        "created_at": r.created_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
    }
