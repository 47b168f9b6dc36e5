"""Per-run automatic checks, on every run (not only in evals), from its journal (pure).

- ``noop_spam``: more than ``noop_max`` calls that repeat an earlier call (same tool, same
  arguments) and got the same outcome back: work that changed nothing.
- ``external_calls``: more than ``external_max`` calls to sinks (tools that carry data out
  of the run: writes, sends, posts, fetches of any URL).
- ``pii_sink``: a sink ran with personal data in the clear in its arguments, and the tool is
  not approved for ``pii`` (``TETHER_APPROVED_LABELS``). Masked data (``[REDACTED:email]``)
  is not personal data.
- ``unapproved_write``: a write ran although policy asked for approval of it, and no person
  approved it.

``finish_step`` journals each violation as a ``check_violation`` event before
``run_finished``; reports and the error analysis read them back from the journal.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tether.events import (
    ApprovalDecided,
    CheckViolation,
    Event,
    EventKey,
    Payload,
    PolicyDecided,
    ToolCallFinished,
    ToolCallStarted,
)
from tether.governance.labels import labels_of_value
from tether.redact import Redactor

if TYPE_CHECKING:
    from tether.agent.context import RunContext

APPROVED_REASON = "tether.approved_by_person"


@dataclass(frozen=True, kw_only=True)
class RunCheckLimits:
    noop_max: int = 3
    external_max: int | None = 50
    approved: Mapping[str, Sequence[str]] = field(default_factory=dict)  # tool -> labels


@dataclass(frozen=True, kw_only=True)
class _Call:
    step: int
    index: int
    started: ToolCallStarted
    finished: ToolCallFinished | None


def _calls(events: Sequence[Event]) -> list[_Call]:
    starts: dict[tuple[int, int, int], ToolCallStarted] = {}
    out: list[_Call] = []
    for e in events:
        p, k = e.payload, e.key
        if isinstance(p, ToolCallStarted):
            starts[(k.segment, k.step, k.index)] = p
        elif isinstance(p, ToolCallFinished):
            s = starts.pop((k.segment, k.step, k.index), None)
            if s is not None and s.validated:
                out.append(_Call(step=k.step, index=k.index, started=s, finished=p))
    return out


def _outcome(f: ToolCallFinished | None) -> str:
    if f is None:
        return ""
    body = f.result if f.ok else (f.error or {}).get("code")
    return json.dumps([f.ok, body], sort_keys=True, default=str)


def noop_spam(calls: Sequence[_Call], limit: int) -> list[CheckViolation]:
    seen: Counter[str] = Counter()
    repeats: list[str] = []
    for c in calls:
        args = json.dumps(c.started.arguments, sort_keys=True, default=str)
        sig = f"{c.started.tool}\x1f{args}\x1f{_outcome(c.finished)}"
        if seen[sig]:
            repeats.append(c.started.tool)
        seen[sig] += 1
    if len(repeats) <= limit:
        return []
    top, n = Counter(repeats).most_common(1)[0]
    return [
        CheckViolation(
            check="noop_spam",
            count=len(repeats),
            limit=limit,
            detail=f"{len(repeats)} calls repeated an earlier call with the same result "
            f"(most: {top!r} x{n}); limit {limit}",
        )
    ]


def _is_sink(s: ToolCallStarted, sinks: frozenset[str] | None) -> bool:
    return s.tool in sinks if sinks is not None else s.side_effect != "read"


def external_calls(
    calls: Sequence[_Call], limit: int | None, sinks: frozenset[str] | None
) -> list[CheckViolation]:
    n = sum(1 for c in calls if _is_sink(c.started, sinks))
    if limit is None or n <= limit:
        return []
    return [
        CheckViolation(
            check="external_calls",
            count=n,
            limit=limit,
            detail=f"{n} calls to sinks (tools that carry data out); the budget is {limit}",
        )
    ]


def pii_sinks(
    calls: Sequence[_Call],
    approved: Mapping[str, Sequence[str]],
    sinks: frozenset[str] | None,
    detector: Redactor,
) -> list[CheckViolation]:
    out = []
    for c in calls:
        s = c.started
        if not _is_sink(s, sinks) or "pii" in approved.get(s.tool, ()):
            continue
        labels = labels_of_value(s.arguments, detector)
        if "pii" in labels:
            kinds = sorted(labels - {"pii", "secret", "redacted"})
            out.append(
                CheckViolation(
                    check="pii_sink",
                    call_id=s.call_id,
                    tool=s.tool,
                    detail=f"{s.tool!r} got personal data ({', '.join(kinds)}) in the clear but "
                    "is not approved for 'pii'; approve it (TETHER_APPROVED_LABELS) or mask it",
                )
            )
    return out


def unapproved_writes(events: Sequence[Event], calls: Sequence[_Call]) -> list[CheckViolation]:
    asked: set[tuple[int, int]] = set()
    approved: set[tuple[int, int]] = set()
    for e in events:
        p, where = e.payload, (e.key.step, e.key.index)
        if isinstance(p, PolicyDecided) and p.target == "tool":
            if p.outcome == "require_approval":
                asked.add(where)
            elif APPROVED_REASON in p.reasons:
                approved.add(where)
        elif isinstance(p, ApprovalDecided) and p.outcome == "approved":
            approved.add((p.step, p.index))
    out = []
    for c in calls:
        where = (c.step, c.index)
        if c.started.side_effect != "read" and where in asked and where not in approved:
            out.append(
                CheckViolation(
                    check="unapproved_write",
                    call_id=c.started.call_id,
                    tool=c.started.tool,
                    detail=f"write {c.started.tool!r} at step {c.step + 1} ran without the "
                    "approval policy asked for",
                )
            )
    return out


def violations(
    events: Sequence[Event],
    limits: RunCheckLimits,
    *,
    sinks: frozenset[str] | None = None,
    detector: Redactor | None = None,
) -> list[CheckViolation]:
    """Every violation of the run whose journal is ``events``. ``sinks``: the names of the
    run's sink tools (None: every non-read tool)."""
    calls = _calls(events)
    found = noop_spam(calls, limits.noop_max)
    found += external_calls(calls, limits.external_max, sinks)
    found += pii_sinks(calls, limits.approved, sinks, detector or Redactor([]))
    found += unapproved_writes(events, calls)
    return found


async def run_check_events(ctx: RunContext, step: int) -> list[tuple[EventKey, Payload]]:
    """The ``check_violation`` events to journal with a run's finish (none when
    ``TETHER_RUN_CHECKS`` is off): the checks read the run's journal once."""
    s = ctx.settings
    if not s.run_checks:
        return []
    events = await asyncio.to_thread(ctx.store.journal.read, ctx.run_id)
    sinks = frozenset(c.name for c in ctx.registry.contracts() if c.is_sink)
    limits = RunCheckLimits(
        noop_max=s.run_check_noop_max,
        external_max=s.run_check_external_max,
        approved=s.approved_labels,
    )
    detector = ctx.gate.detector if ctx.gate is not None else None
    found = violations(events, limits, sinks=sinks, detector=detector)
    return [(ctx.key(step, "check_violation", n), v) for n, v in enumerate(found)]
