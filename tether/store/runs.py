"""Run records: one row per run in ``tether_runs``, the index the CLI and API list from."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tether.errors import RunNotFound, UsageError
from tether.redact import Redactor
from tether.store.engine import write_transaction
from tether.store.schema import runs
from tether.types import RunStatus

_MICROS = Decimal(1_000_000)
_REDACTED_FIELDS = ("goal", "output", "reason")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """A run as stored: identity, status, outcome and what it used. ``cost`` is money."""

    id: str
    agent: str
    goal: str
    model: str
    agent_version: str = ""
    status: RunStatus = RunStatus.QUEUED
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    finished_at: datetime | None = None
    output: str | None = None
    reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    steps: int = 0
    tool_calls: int = 0
    segment: int = 0
    tenant: str | None = None
    parent_run_id: str | None = None
    executor_id: str | None = None  # the process executing (or last executing) the run
    tether_version: str = ""  # the tether release that started the run
    user_group: str | None = None  # the user's group (feature flags per group)
    shadow_of: str | None = None  # a shadow run: the production run it re-ran (not counted)

    @property
    def cost_micros(self) -> int:
        """``cost`` in integer micro-units, as stored."""
        return to_micros(self.cost)


_FIELD_NAMES = frozenset(f.name for f in fields(RunRecord))
_STARTABLE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
_UPDATABLE = (_FIELD_NAMES - {"id", "created_at"}) | {"cost_micros"}


def to_micros(amount: Decimal | int | str) -> int:
    """Money in integer micro-units (half-even rounding below one micro-unit)."""
    try:
        value = Decimal(amount) * _MICROS
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise UsageError(f"cost {amount!r} is not a decimal amount; pass a Decimal") from exc
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


class RunStore:
    """Creates, updates and finds run records. Goal, output and reason are redacted."""

    def __init__(self, engine: sa.Engine, redactor: Redactor) -> None:
        self._engine = engine
        self._redactor = redactor
        self._status_of = sa.select(runs.c.status).where(runs.c.id == sa.bindparam("id"))

    def create(self, record: RunRecord) -> RunRecord:
        """Store a new run; returns it as stored (redacted). A taken id is a UsageError."""
        values = _to_row(record)
        values.update(self._redact_texts(values))
        try:
            with write_transaction(self._engine) as conn:
                conn.execute(sa.insert(runs).values(**values))
        except IntegrityError as exc:
            raise UsageError(f"run {record.id!r} already exists; use a new run id") from exc
        return _from_row(values)

    def update(self, run_id: str, **changes: Any) -> RunRecord:
        """Change some fields of run ``run_id``; sets ``updated_at``; returns the new record."""
        unknown = sorted(set(changes) - _UPDATABLE)
        if unknown:
            raise UsageError(
                f"cannot update run field(s) {', '.join(map(repr, unknown))}; "
                f"updatable fields: {', '.join(sorted(_UPDATABLE))}"
            )
        values = _update_values(changes)
        values.update(self._redact_texts(values))
        values.setdefault("updated_at", _now())
        with write_transaction(self._engine) as conn:
            result = conn.execute(sa.update(runs).where(runs.c.id == run_id).values(**values))
            if result.rowcount == 0:
                raise _not_found(run_id)
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
        return _from_row(row)

    def start_segment(self, run_id: str, executor_id: str, segment: int) -> bool:
        """Mark a queued or running run as running ``segment`` on ``executor_id``; False (and
        nothing changed) if it is in any other status. A segment DBOS re-executes after a
        crash must neither reopen a run that already finished (its recorded finish step is
        not run again) nor overwrite a cancel or pause asked for meanwhile."""
        with write_transaction(self._engine) as conn:
            result = conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id, runs.c.status.in_(_STARTABLE))
                .values(
                    executor_id=executor_id,
                    segment=segment,
                    status=RunStatus.RUNNING.value,
                    updated_at=_now(),
                )
            )
        return bool(result.rowcount)

    def get(self, run_id: str) -> RunRecord:
        """The run with id ``run_id``; RunNotFound if there is none."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise _not_found(run_id)
        return _from_row(row)

    def status(self, run_id: str) -> RunStatus:
        """Just the status of run ``run_id`` (one column: cheap enough to ask before every step)."""
        with self._engine.connect() as conn:
            value = conn.execute(self._status_of, {"id": run_id}).scalar_one_or_none()
        if value is None:
            raise _not_found(run_id)
        return RunStatus(value)

    def find(self, prefix: str) -> RunRecord:
        """The run whose id is ``prefix`` or, failing that, the one run whose id starts with it."""
        if not prefix:
            raise UsageError("an empty run id matches every run; give a run id or its prefix")
        stmt = sa.select(runs).where(runs.c.id.startswith(prefix, autoescape=True))
        with self._engine.connect() as conn:
            exact = conn.execute(sa.select(runs).where(runs.c.id == prefix)).mappings().first()
            rows = [] if exact else conn.execute(stmt.order_by(runs.c.id).limit(6)).mappings().all()
        if exact is not None:
            return _from_row(exact)
        if not rows:
            raise _not_found(prefix)
        if len(rows) > 1:
            shown = ", ".join(repr(r["id"]) for r in rows[:5])
            raise UsageError(
                f"run id prefix {prefix!r} is ambiguous: it matches {shown}"
                f"{' and more' if len(rows) > 5 else ''}; give more characters"
            )
        return _from_row(rows[0])

    def list(
        self,
        *,
        status: RunStatus | str | None = None,
        agent: str | None = None,
        limit: int = 50,
        tenant: str | None = None,
        shadows: bool = True,
    ) -> builtins.list[RunRecord]:
        """Runs, newest first, optionally only those with ``status``, of ``agent`` or of
        ``tenant``; ``shadows=False`` leaves out shadow runs (``tether runs shadow``)."""
        stmt = sa.select(runs)
        if not shadows:
            stmt = stmt.where(runs.c.shadow_of.is_(None))
        if tenant is not None:
            stmt = stmt.where(runs.c.tenant == tenant)
        if status is not None:
            stmt = stmt.where(runs.c.status == _status(status).value)
        if agent is not None:
            stmt = stmt.where(runs.c.agent == agent)
        stmt = stmt.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(max(limit, 0))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [_from_row(row) for row in rows]

    def _redact_texts(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            name: self._redactor.redact_text(values[name])
            for name in _REDACTED_FIELDS
            if isinstance(values.get(name), str)
        }


def _not_found(run_id: str) -> RunNotFound:
    return RunNotFound(f"no run {run_id!r}; list runs with `tether runs list`")


def _status(value: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError as exc:
        choices = ", ".join(s.value for s in RunStatus)
        raise UsageError(f"run status {value!r} is not one of: {choices}") from exc


def _aware(name: str, value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise UsageError(f"run field {name!r} needs a timezone-aware datetime (UTC), got {value}")
    return value


def _update_values(changes: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "status":
            values["status"] = _status(value).value
        elif name == "cost":
            values["cost_micros"] = to_micros(value)
        else:
            values[name] = _aware(name, value)
    return values


def _to_row(record: RunRecord) -> dict[str, Any]:
    values: dict[str, Any] = {
        f.name: _aware(f.name, getattr(record, f.name)) for f in fields(record) if f.name != "cost"
    }
    values["status"] = _status(record.status).value
    values["cost_micros"] = record.cost_micros
    return values


def _from_row(row: Any) -> RunRecord:
    data = {name: row[name] for name in _FIELD_NAMES if name != "cost"}
    data["status"] = RunStatus(data["status"])
    data["cost"] = Decimal(int(row["cost_micros"])) / _MICROS
    for name in ("created_at", "updated_at", "finished_at"):
        if isinstance(data[name], datetime):
            data[name] = data[name].astimezone(UTC)
    return RunRecord(**data)
