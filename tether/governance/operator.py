"""What an operator does to runs from any process: kill switches and instructions.

These only write to the store (no DBOS): a run executing in another process picks them up
before its next step (``tether.governance.preflight``). A kill switch is also journaled, as a
``kill_switch`` event, in every open run it concerns, so each run's journal shows when it was
told to stop.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tether.errors import UsageError
from tether.events import Event, EventKey, KillSwitchSet, RunStarted
from tether.store import KillSwitch, RunRecord
from tether.store.controls import SwitchScope
from tether.types import RunStatus

if TYPE_CHECKING:
    from tether.runtime import Runtime

_OPEN = (RunStatus.RUNNING, RunStatus.QUEUED)


def operator_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "operator"


def scope_of(agent: str | None, tool: str | None) -> tuple[SwitchScope, str]:
    if agent and tool:
        raise UsageError("give --agent or --tool, not both: a switch has one scope")
    if agent:
        return "agent", agent
    if tool:
        return "tool", tool
    return "global", ""


@dataclass(frozen=True, kw_only=True)
class KillResult:
    switch: KillSwitch
    created: bool  # False: the same switch was already active
    runs: tuple[str, ...]  # the open runs it concerns (journaled in each)


def kill(
    runtime: Runtime,
    scope: SwitchScope,
    target: str,
    reason: str,
    *,
    by: str | None = None,
    tenant: str = "",
) -> KillResult:
    """Activate a kill switch and journal it in every open run it concerns; ``tenant``:
    only that tenant's runs ("": every tenant's)."""
    store = runtime.store
    now = datetime.now(UTC)
    probe = KillSwitch(id=0, scope=scope, target=target, reason="", set_at=now, tenant=tenant)
    affected = [r for r in _open_runs(runtime, tenant) if _concerns(runtime, probe, r)]
    positions = {r.id: (r.segment, _steps(runtime, r.id)) for r in affected}

    def journal(conn: sa.Connection, switch: KillSwitch) -> None:
        store.journal.store_in(conn, [_kill_event(switch, r, *positions[r]) for r in positions])

    switch, created = store.controls.set_switch(
        scope,
        target,
        reason,
        by=by or operator_name(),
        now=now,
        also=journal,
        tenant=tenant,
    )
    return KillResult(switch=switch, created=created, runs=tuple(positions) if created else ())


def lift(
    runtime: Runtime, scope: SwitchScope, target: str, *, tenant: str = ""
) -> list[KillSwitch]:
    """Lift the active switch on (scope, target) of ``tenant`` ("": the one for every
    tenant); an error if there is none."""
    lifted = runtime.store.controls.lift(scope, target, now=datetime.now(UTC), tenant=tenant)
    if not lifted:
        shown = "global" if scope == "global" else f"{scope} {target!r}"
        shown += f" (tenant {tenant!r})" if tenant else ""
        raise UsageError(
            f"no active {shown} kill switch to lift; list them with `tether kill --json`"
        )
    return lifted


def steer(runtime: Runtime, run_ref: str, text: str, *, by: str | None = None) -> RunRecord:
    """Queue an instruction the run's agent sees at its next model step."""
    record = runtime.store.runs.find(run_ref)
    if record.status.is_final and record.status is not RunStatus.PAUSED:
        raise UsageError(
            f"run {record.id!r} is already {record.status.value}; an instruction would never "
            "be seen"
        )
    runtime.store.controls.add_message(
        record.id, text, by=by or operator_name(), now=datetime.now(UTC)
    )
    return record


def _open_runs(runtime: Runtime, tenant: str = "") -> list[RunRecord]:
    runs = runtime.store.runs
    only = tenant or None
    return [r for status in _OPEN for r in runs.list(status=status, limit=100_000, tenant=only)]


def _concerns(runtime: Runtime, switch: KillSwitch, record: RunRecord) -> bool:
    if switch.scope == "global":
        return True
    if switch.scope == "agent":
        return record.agent == switch.target
    started = runtime.store.journal.read(record.id, kinds=["run_started"])
    return any(
        isinstance(e.payload, RunStarted) and switch.target in e.payload.tools for e in started
    )


def _steps(runtime: Runtime, run_id: str) -> int:
    return len(runtime.store.journal.read(run_id, kinds=["model_response"]))


def _kill_event(switch: KillSwitch, run_id: str, segment: int, step: int) -> Event:
    key = EventKey(run_id=run_id, segment=segment, step=step, kind="kill_switch", index=switch.id)
    payload = KillSwitchSet(
        switch_id=switch.id,
        scope=switch.scope,
        target=switch.target,
        reason=switch.reason,
        by=switch.by,
    )
    return Event(key=key, payload=payload, ts=switch.set_at)
