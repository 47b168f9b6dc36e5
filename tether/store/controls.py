"""Operator controls as stored: kill switches, operator messages, and the pre-step check.

A kill switch (``tether kill``) is a row of ``tether_kill_switches`` that stays active until it
is lifted. An operator's instruction (``tether runs steer``) is a row of
``tether_operator_messages`` until the run journals it. :meth:`ControlStore.preflight` reads
everything a run must know before its next step in ONE query: the run's status (a cancel or
pause request), the active switches that concern its agent or its tools, the instructions not
yet seen, and, when asked, the tenant's spend in its other runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa

from tether.errors import RunNotFound, UsageError
from tether.redact import Redactor
from tether.store.engine import write_transaction
from tether.store.schema import kill_switches, operator_messages, runs
from tether.types import RunStatus

_NEVER = datetime.min.replace(tzinfo=UTC)  # preflight rows carry no timestamps
SwitchScope = Literal["global", "agent", "tool"]
SCOPES: tuple[SwitchScope, ...] = ("global", "agent", "tool")


@dataclass(frozen=True, kw_only=True)
class KillSwitch:
    id: int
    scope: SwitchScope
    target: str  # "" for the global switch
    reason: str
    set_at: datetime
    lifted_at: datetime | None = None
    by: str = ""
    tenant: str = ""  # "": every tenant's runs

    @property
    def label(self) -> str:
        where = f" of tenant {self.tenant!r}" if self.tenant else ""
        return (
            f"the global kill switch{where}"
            if self.scope == "global"
            else (f"the kill switch on {self.scope} {self.target!r}{where}")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "target": self.target,
            "reason": self.reason,
            "set_at": self.set_at.isoformat(),
            "lifted_at": self.lifted_at.isoformat() if self.lifted_at else None,
            "by": self.by,
            "tenant": self.tenant,
        }


@dataclass(frozen=True, kw_only=True)
class OperatorMessage:
    id: int
    text: str


@dataclass(frozen=True, kw_only=True)
class TenantTotals:
    """What a tenant's other runs used, as recorded in ``tether_runs``."""

    tokens: int = 0
    money_micros: int = 0
    tool_calls: int = 0


@dataclass(frozen=True, kw_only=True)
class Preflight:
    """What the pre-step check found."""

    status: RunStatus
    switches: tuple[KillSwitch, ...] = ()
    messages: tuple[OperatorMessage, ...] = ()
    tenant: TenantTotals | None = None


def _check_scope(scope: str, target: str) -> None:
    if scope not in SCOPES:
        raise UsageError(f"kill switch scope {scope!r} is not one of: {', '.join(SCOPES)}")
    if (scope == "global") != (not target):
        raise UsageError(
            "a global kill switch has no target; an agent or tool switch needs one "
            "(--agent NAME or --tool NAME)"
        )


def _switch(row: Any) -> KillSwitch:
    return KillSwitch(
        id=int(row.id),
        scope=row.scope,
        target=row.target,
        reason=row.reason,
        set_at=row.set_at,
        lifted_at=row.lifted_at,
        by=row.by,
        tenant=row.tenant,
    )


def _text(value: str) -> sa.ColumnElement[str]:
    return sa.literal_column(f"'{value}'", sa.Text)


def _as_text(column: Any) -> sa.ColumnElement[str]:
    return sa.cast(column, sa.Text)


class ControlStore:
    """Kill switches and operator messages over one engine. Message texts are redacted."""

    def __init__(self, engine: sa.Engine, redactor: Redactor) -> None:
        self._engine = engine
        self._redactor = redactor
        self._plain = _preflight_statement(tenant=False)
        self._with_tenant = _preflight_statement(tenant=True)

    def set_switch(
        self,
        scope: SwitchScope,
        target: str,
        reason: str,
        *,
        by: str,
        now: datetime,
        also: Callable[[sa.Connection, KillSwitch], object] | None = None,
        tenant: str = "",
    ) -> tuple[KillSwitch, bool]:
        """Activate a switch; returns it and True, or the switch already active and False.
        ``tenant``: only that tenant's runs ("": every tenant's).

        ``also(conn, switch)`` writes in the same transaction (the kill events of the runs it
        concerns): a run sees the switch and its journal entry at once, or neither.
        """
        _check_scope(scope, target)
        with write_transaction(self._engine) as conn:
            row = conn.execute(
                sa.select(kill_switches).where(
                    kill_switches.c.lifted_at.is_(None),
                    kill_switches.c.scope == scope,
                    kill_switches.c.target == target,
                    kill_switches.c.tenant == tenant,
                )
            ).first()
            if row is not None:
                return _switch(row), False
            reason = self._redactor.redact_text(reason)
            new_id = conn.execute(
                kill_switches.insert()
                .values(scope=scope, target=target, reason=reason, set_at=now, by=by, tenant=tenant)
                .returning(kill_switches.c.id)
            ).scalar_one()
            switch = KillSwitch(
                id=int(new_id),
                scope=scope,
                target=target,
                reason=reason,
                set_at=now,
                by=by,
                tenant=tenant,
            )
            if also is not None:
                also(conn, switch)
        return switch, True

    def lift(
        self, scope: SwitchScope, target: str, *, now: datetime, tenant: str = ""
    ) -> list[KillSwitch]:
        """Lift the active switch on (scope, target) of ``tenant`` ("": the one of every
        tenant); returns what was lifted (maybe nothing)."""
        _check_scope(scope, target)
        active = (
            kill_switches.c.lifted_at.is_(None),
            kill_switches.c.scope == scope,
            kill_switches.c.target == target,
            kill_switches.c.tenant == tenant,
        )
        with write_transaction(self._engine) as conn:
            rows = conn.execute(sa.select(kill_switches).where(*active)).all()
            conn.execute(kill_switches.update().where(*active).values(lifted_at=now))
        return [replace(_switch(r), lifted_at=now) for r in rows]

    def active(self) -> list[KillSwitch]:
        """The switches in force, oldest first."""
        stmt = sa.select(kill_switches).where(kill_switches.c.lifted_at.is_(None))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(kill_switches.c.id)).all()
        return [_switch(r) for r in rows]

    def request_status(self, run_id: str, status: RunStatus, *, when: Sequence[RunStatus]) -> bool:
        """Set the run's status to ``status`` if it is one of ``when`` (compare-and-swap): how
        an operator asks a running run to stop. False if the run was in another status."""
        with write_transaction(self._engine) as conn:
            changed = conn.execute(
                runs.update()
                .where(runs.c.id == run_id, runs.c.status.in_([w.value for w in when]))
                .values(status=status.value, updated_at=datetime.now(UTC))
            ).rowcount
        return bool(changed)

    def add_message(self, run_id: str, text: str, *, by: str, now: datetime) -> int:
        """Queue an operator's instruction for run ``run_id``; returns its id."""
        if not text.strip():
            raise UsageError("an operator instruction is empty; say what the agent should do")
        with write_transaction(self._engine) as conn:
            if conn.scalar(sa.select(runs.c.id).where(runs.c.id == run_id)) is None:
                raise RunNotFound(f"no run {run_id!r}; list runs with `tether runs list`")
            return int(
                conn.execute(
                    operator_messages.insert()
                    .values(
                        run_id=run_id,
                        text=self._redactor.redact_text(text),
                        created_at=now,
                        by=by,
                    )
                    .returning(operator_messages.c.id)
                ).scalar_one()
            )

    def preflight(
        self,
        run_id: str,
        *,
        agent: str,
        tools: Sequence[str],
        after_message: int = 0,
        tenant: str | None = None,
    ) -> Preflight:
        """Everything the run must know before its next step, in one query (see module doc)."""
        params: dict[str, Any] = {
            "run_id": run_id,
            "agent": agent,
            "tools": list(tools),
            "after": after_message,
        }
        stmt = self._with_tenant if tenant is not None else self._plain
        if tenant is not None:
            params["tenant"] = tenant
        with self._engine.connect() as conn:
            rows = conn.execute(stmt, params).all()
        return _preflight(run_id, rows)


def _preflight_statement(*, tenant: bool) -> Any:
    """The pre-step query, built once per store with bound parameters (built per call, its
    construction cost three times the query's own)."""
    run_id: Any = sa.bindparam("run_id")
    after: Any = sa.bindparam("after")
    parts: list[Any] = [
        sa.select(
            _text("run").label("k"),
            sa.cast(sa.literal_column("0"), sa.BigInteger).label("n"),
            _as_text(runs.c.status).label("a"),
            _text("").label("b"),
            _text("").label("c"),
            _text("").label("d"),
        ).where(runs.c.id == run_id),
        sa.select(
            _text("switch"),
            sa.cast(kill_switches.c.id, sa.BigInteger),
            _as_text(kill_switches.c.scope),
            _as_text(kill_switches.c.target),
            _as_text(kill_switches.c.reason),
            _as_text(kill_switches.c.tenant),  # a tenant's switch is lifted for that tenant
        ).where(
            kill_switches.c.lifted_at.is_(None),
            kill_switches.c.tenant.in_(
                [_text(""), sa.select(runs.c.tenant).where(runs.c.id == run_id).scalar_subquery()]
            ),
            sa.or_(
                kill_switches.c.scope == "global",
                sa.and_(
                    kill_switches.c.scope == "agent",
                    kill_switches.c.target == sa.bindparam("agent"),
                ),
                sa.and_(
                    kill_switches.c.scope == "tool",
                    kill_switches.c.target.in_(sa.bindparam("tools", expanding=True)),
                ),
            ),
        ),
        sa.select(
            _text("message"),
            sa.cast(operator_messages.c.id, sa.BigInteger),
            _as_text(operator_messages.c.text),
            _text(""),
            _text(""),
            _text(""),
        ).where(operator_messages.c.run_id == run_id, operator_messages.c.id > after),
    ]
    if tenant:
        parts.append(_tenant_totals(run_id, sa.bindparam("tenant")))
    return sa.union_all(*parts)


def _tenant_totals(run_id: Any, tenant: Any) -> Any:
    tokens = sa.func.coalesce(sa.func.sum(runs.c.input_tokens + runs.c.output_tokens), 0)
    return sa.select(
        _text("tenant"),
        sa.cast(tokens, sa.BigInteger),
        _as_text(sa.cast(sa.func.coalesce(sa.func.sum(runs.c.cost_micros), 0), sa.BigInteger)),
        _as_text(sa.cast(sa.func.coalesce(sa.func.sum(runs.c.tool_calls), 0), sa.BigInteger)),
        _text(""),
        _text(""),
    ).where(runs.c.tenant == tenant, runs.c.id != run_id)


def _preflight(run_id: str, rows: Sequence[Any]) -> Preflight:
    status: RunStatus | None = None
    switches: list[KillSwitch] = []
    messages: list[OperatorMessage] = []
    tenant: TenantTotals | None = None
    for k, n, a, b, c, d in rows:
        if k == "run":
            status = RunStatus(a)
        elif k == "switch":
            switches.append(
                KillSwitch(id=int(n), scope=a, target=b, reason=c, set_at=_NEVER, tenant=d)
            )
        elif k == "message":
            messages.append(OperatorMessage(id=int(n), text=a))
        else:
            tenant = TenantTotals(
                tokens=int(n), money_micros=int(Decimal(a)), tool_calls=int(Decimal(b))
            )
    if status is None:
        raise RunNotFound(f"no run {run_id!r}; list runs with `tether runs list`")
    return Preflight(
        status=status,
        switches=tuple(sorted(switches, key=lambda s: s.id)),
        messages=tuple(sorted(messages, key=lambda m: m.id)),
        tenant=tenant,
    )
