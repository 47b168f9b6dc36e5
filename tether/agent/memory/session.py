"""Sessions: a conversation of many turns, each turn a run of its own.

A turn's run starts from what the previous turn's run left in working memory: its summary
blocks of earlier turns, the turns it still showed verbatim, and its own turn (the goal and the
final answer). That is journaled once, as the new run's ``session_context`` event, so a run
needs no other run's journal to be rebuilt, and each turn reads one earlier journal: a session's
cost grows linearly with its turns. The tool calls inside a turn are not carried: the answer
says what came of them. A session whose earlier turns read untrusted content (tool output,
retrieval) stays tainted for the injection defense (``tether/governance/taint.py``).
"""

from __future__ import annotations

import re
from typing import Any

from tether.agent.state import RunState
from tether.errors import UsageError
from tether.events import SessionContext
from tether.governance.taint import tainted
from tether.types import RunStatus

SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$")


def check_session_id(session: str) -> str:
    if not SESSION_ID.match(session):
        raise UsageError(
            f"session id {session!r} is not valid: use 1-200 letters, digits and '_.:@-', "
            "starting with a letter or digit"
        )
    return session


def answer_of(state: RunState) -> str:
    """What the assistant said at the end of a turn (or how the turn ended)."""
    if state.status is RunStatus.SUCCEEDED and state.output:
        return state.output
    why = f": {state.reason}" if state.reason else ""
    return f"(this turn ended {state.status.value}{why})"


def carry_over(
    session: str, turn: int, previous: RunState | None, previous_run: str | None
) -> SessionContext:
    """The ``session_context`` of turn ``turn``, from the previous turn's final state."""
    if previous is None:
        return SessionContext(session=session, turn=turn, first_turn=turn)
    ws = previous.memory
    kept: list[dict[str, Any]] = []
    for t in range(ws.carried):
        if 2 * t >= ws.cut:
            kept.append(
                {
                    "turn": ws.first_turn + t,
                    "user": previous.messages[2 * t].content,
                    "assistant": previous.messages[2 * t + 1].content,
                }
            )
    kept.append({"turn": ws.turn, "user": previous.goal, "assistant": answer_of(previous)})
    return SessionContext(
        session=session,
        turn=turn,
        previous_run=previous_run,
        first_turn=int(kept[0]["turn"]),
        turns=kept,
        blocks=[b.to_json() for b in ws.blocks if b.scope == "session"],
        tainted=ws.tainted or tainted(previous.messages),
    )
