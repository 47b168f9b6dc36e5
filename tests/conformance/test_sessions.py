"""Session turns on each backend: ordered per tenant and session, one run per turn number."""

from __future__ import annotations

import pytest

from tests.store.helpers import T0, make_run
from tether.errors import UsageError
from tether.store import SessionTurn, Store


def turn(n: int, run_id: str, tenant: str = "a", session: str = "s") -> SessionTurn:
    return SessionTurn(
        tenant=tenant, session_id=session, turn=n, run_id=run_id, agent="helper", created_at=T0
    )


def test_turns_are_ordered_and_scoped_by_tenant(store: Store) -> None:
    for run_id in ("r1", "r2", "r3"):
        make_run(store, run_id)
    assert store.sessions.last("a", "s") is None
    store.sessions.add(turn(1, "r1"))
    store.sessions.add(turn(2, "r2"))
    store.sessions.add(turn(1, "r3", tenant="b"))
    last = store.sessions.last("a", "s")
    assert last is not None and (last.turn, last.run_id) == (2, "r2")
    assert last.created_at == T0
    assert [t.run_id for t in store.sessions.turns("a", "s")] == ["r1", "r2"]
    assert [t.run_id for t in store.sessions.turns("b", "s")] == ["r3"]


def test_a_turn_number_is_taken_once(store: Store) -> None:
    make_run(store, "r1")
    make_run(store, "r2")
    store.sessions.add(turn(1, "r1"))
    with pytest.raises(UsageError, match="already has a turn 1"):
        store.sessions.add(turn(1, "r2"))
