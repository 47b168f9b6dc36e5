"""Kill switches, operator messages and the one pre-step query, on each backend."""

from __future__ import annotations

import pytest

from tests.store.helpers import SECRET, T0, make_run
from tether.errors import RunNotFound, UsageError
from tether.store import Store
from tether.types import RunStatus


def test_switches_are_set_once_and_lifted_explicitly(store: Store) -> None:
    controls = store.controls
    first, created = controls.set_switch("tool", "send_email", "spam", by="ops", now=T0)
    again, created_again = controls.set_switch("tool", "send_email", "other", by="ops", now=T0)
    assert created and not created_again and again.id == first.id
    controls.set_switch("global", "", "", by="ops", now=T0)
    assert [(s.scope, s.target) for s in controls.active()] == [
        ("tool", "send_email"),
        ("global", ""),
    ]
    (lifted,) = controls.lift("tool", "send_email", now=T0)
    assert lifted.lifted_at == T0
    assert controls.lift("tool", "send_email", now=T0) == []
    assert [s.scope for s in controls.active()] == ["global"]
    with pytest.raises(UsageError, match="global kill switch has no target"):
        controls.set_switch("global", "x", "", by="ops", now=T0)
    with pytest.raises(UsageError, match="scope 'run'"):
        controls.set_switch("run", "x", "", by="ops", now=T0)  # type: ignore[arg-type]


def test_preflight_reads_status_switches_messages_and_tenant_at_once(store: Store) -> None:
    make_run(store, "r1", agent="helper", tenant="acme")
    make_run(store, "r2", agent="helper", tenant="acme", input_tokens=7, tool_calls=2)
    store.runs.update("r2", cost_micros=1500)
    controls = store.controls
    pre = controls.preflight("r1", agent="helper", tools=["calc"], tenant="acme")
    assert (pre.status, pre.switches, pre.messages) == (RunStatus.QUEUED, (), ())
    assert pre.tenant is not None and (pre.tenant.tokens, pre.tenant.money_micros) == (7, 1500)
    assert pre.tenant.tool_calls == 2
    controls.set_switch("agent", "other", "", by="ops", now=T0)
    controls.set_switch("tool", "calc", "broken", by="ops", now=T0)
    controls.set_switch("agent", "helper", "bad", by="ops", now=T0)
    first = controls.add_message("r1", f"use key {SECRET}", by="ops", now=T0)
    second = controls.add_message("r1", "be brief", by="ops", now=T0)
    pre = controls.preflight("r1", agent="helper", tools=["calc", "clock"])
    assert [(s.scope, s.target, s.reason) for s in pre.switches] == [
        ("tool", "calc", "broken"),
        ("agent", "helper", "bad"),
    ]
    assert [m.id for m in pre.messages] == [first, second]
    assert SECRET not in pre.messages[0].text  # redacted at rest
    later = controls.preflight("r1", agent="helper", tools=[], after_message=first)
    assert [m.text for m in later.messages] == ["be brief"] and len(later.switches) == 1
    assert later.tenant is None
    with pytest.raises(RunNotFound):
        controls.preflight("nope", agent="helper", tools=[])
    with pytest.raises(RunNotFound):
        controls.add_message("nope", "hi", by="ops", now=T0)
    with pytest.raises(UsageError, match="empty"):
        controls.add_message("r1", "  ", by="ops", now=T0)


def test_request_status_is_a_compare_and_swap(store: Store) -> None:
    make_run(store, "r1", status=RunStatus.RUNNING)
    paused = store.controls.request_status("r1", RunStatus.PAUSED, when=(RunStatus.RUNNING,))
    assert paused and store.runs.get("r1").status is RunStatus.PAUSED
    assert not store.controls.request_status("r1", RunStatus.PAUSED, when=(RunStatus.RUNNING,))
