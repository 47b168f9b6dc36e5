"""Alert rules over the KPIs (DESIGN §2.9): measured, compared, and each transition kept once.

``measure`` is pure: a rule's value from run records, their journals and the open approvals'
start times (None: not enough data, and the rule keeps its state). ``check`` does the I/O:
for each rule it gathers the runs, measures, and when the verdict differs from the stored state
it records the transition (``tether_alert_transitions``, keyed by rule and sequence number)
and enqueues its notification to each webhook that takes alerts, in one transaction guarded
by the state's sequence number: two workers checking at once record one transition, and a rule
that keeps firing notifies once, when it starts, and once more when it resolves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tether.events import Event, ToolCallFinished
from tether.notify import outbox
from tether.notify.config import KPI_METRICS, AlertRule, Notifications
from tether.notify.messages import Transition, alert_message
from tether.observability import kpis
from tether.redact import Redactor
from tether.store import RunRecord
from tether.store.approvals import OPEN
from tether.store.engine import insert_ignoring_conflicts, write_transaction
from tether.store.schema import alert_transitions, alerts, approvals
from tether.types import RunStatus


@dataclass(frozen=True, kw_only=True)
class AlertState:
    rule: str
    state: str  # "ok" | "firing"
    seq: int
    value: float | None
    since: datetime | None
    checked_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        def stamp(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "rule": self.rule,
            "state": self.state,
            "seq": self.seq,
            "value": self.value,
            "since": stamp(self.since),
            "checked_at": stamp(self.checked_at),
        }


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(Decimal(value)) if isinstance(value, str) else float(value)


def measure(
    rule: AlertRule,
    records: Sequence[RunRecord],
    journals: Mapping[str, Sequence[Event]],
    pending_since: Sequence[datetime],
    now: datetime,
) -> float | None:
    """The rule's value now, or None when there is too little data for a verdict."""
    if rule.metric == "approvals_pending":
        edge = now - timedelta(seconds=rule.older_than_s)
        return float(sum(1 for t in pending_since if t <= edge))
    if rule.window_s is not None:
        start = now - timedelta(seconds=rule.window_s)
        records = [r for r in records if r.created_at >= start]
    finished = [r for r in records if r.status.is_final and r.status is not RunStatus.PAUSED]
    if len(finished) < rule.min_runs:
        return None
    if rule.metric in KPI_METRICS:
        figures = kpis.kpis(records, {r.id: journals.get(r.id, ()) for r in records})
        return _number(getattr(figures, rule.metric))
    calls = [
        e.payload
        for r in records
        for e in journals.get(r.id, ())
        if isinstance(e.payload, ToolCallFinished)
    ]
    if rule.metric == "tool_error_rate":
        return round(sum(not c.ok for c in calls) / len(calls), 4) if calls else None
    if rule.metric == "breaker_open":
        return float(sum((c.error or {}).get("code") == "circuit_open" for c in calls))
    if rule.metric == "failed_runs":
        return float(sum(r.status is RunStatus.FAILED for r in finished))
    # cost_per_run
    spent = sum((r.cost for r in finished), Decimal(0))
    return float(spent / len(finished)) if finished else None


def scope_of(rule: AlertRule) -> str:
    if rule.metric == "approvals_pending":
        where = f"approvals open longer than {rule.older_than_s:g}s"
    else:
        where = f"newest {rule.runs} runs" + (
            f" of the last {rule.window_s:g}s" if rule.window_s else ""
        )
    return where + (f" of tenant {rule.tenant}" if rule.tenant else "")


def states(engine: sa.Engine) -> dict[str, AlertState]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alerts)).all()
    return {
        r.rule: AlertState(
            rule=r.rule,
            state=r.state,
            seq=r.seq,
            value=r.value,
            since=r.since,
            checked_at=r.checked_at,
        )
        for r in rows
    }


def _pending_since(engine: sa.Engine, tenant: str | None) -> list[datetime]:
    query = sa.select(approvals.c.created_at).where(approvals.c.status.in_(OPEN))
    if tenant is not None:
        query = query.where(approvals.c.tenant == tenant)
    with engine.connect() as conn:
        return list(conn.scalars(query))


def check(
    store: Any, config: Notifications, redactor: Redactor, *, now: datetime
) -> list[Transition]:
    """Evaluate every rule once; the transitions this call recorded (and notified)."""
    engine: sa.Engine = store.engine
    known = states(engine)
    out: list[Transition] = []
    for rule in config.alerts:
        if rule.metric == "approvals_pending":
            value = measure(rule, [], {}, _pending_since(engine, rule.tenant), now)
        else:
            records, journals = kpis.gather(store, tenant=rule.tenant, limit=rule.runs)
            value = measure(rule, records, journals, [], now)
        change = _record(engine, config, redactor, rule, known.get(rule.name), value, now)
        if change is not None:
            out.append(change)
    return out


def _record(
    engine: sa.Engine,
    config: Notifications,
    redactor: Redactor,
    rule: AlertRule,
    before: AlertState | None,
    value: float | None,
    now: datetime,
) -> Transition | None:
    was = before.state if before is not None else "ok"
    verdict = was if value is None else ("firing" if rule.fires(value) else "ok")
    seq = before.seq if before is not None else 0
    with write_transaction(engine) as conn:
        if before is None:
            conn.execute(
                insert_ignoring_conflicts(conn, alerts).values(
                    rule=rule.name, state="ok", seq=0, value=value, since=now, checked_at=now
                )
            )
        if verdict == was:
            conn.execute(
                sa.update(alerts)
                .where(alerts.c.rule == rule.name)
                .values(checked_at=now, value=value)
            )
            return None
        moved = conn.execute(
            sa.update(alerts)
            .where(alerts.c.rule == rule.name, alerts.c.seq == seq)
            .values(state=verdict, seq=seq + 1, value=value, since=now, checked_at=now)
        )
        if moved.rowcount != 1:
            return None  # another worker recorded this transition first
        change = Transition(
            rule=rule.name,
            seq=seq + 1,
            state=verdict,
            metric=rule.metric,
            value=value,
            threshold=rule.threshold,
            scope=scope_of(rule),
        )
        conn.execute(
            sa.insert(alert_transitions).values(
                rule=rule.name, seq=seq + 1, state=verdict, value=value, message=change.text, at=now
            )
        )
        message = alert_message(change, redactor)
        key = f"alert:{rule.name}:{seq + 1}"
        outbox.enqueue(
            conn,
            [
                outbox.row_values(w.name, key, "alert", rule.tenant, message, now)
                for w in config.webhooks
                if w.wants("alerts", rule.tenant)
            ],
        )
    return change


def transitions(engine: sa.Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    query = sa.select(alert_transitions).order_by(alert_transitions.c.at.desc()).limit(limit)
    with engine.connect() as conn:
        return [
            {
                "rule": r.rule,
                "seq": r.seq,
                "state": r.state,
                "value": r.value,
                "message": r.message,
                "at": r.at.isoformat(),
            }
            for r in conn.execute(query)
        ]
