"""The incremental fold over a conversation equals a fold from scratch, whatever changed."""

from __future__ import annotations

from tether.governance.scan import Fold
from tether.governance.taint import NO_ORIGINS, UNTRUSTED, add_origin, origin_labels
from tether.types import Message, ToolResultMessage, UserMessage


def _result(name: str, *, trusted: bool = False) -> ToolResultMessage:
    return ToolResultMessage(tool_call_id=name, name=name, content="x", trusted=trusted)


def test_a_growing_conversation_is_folded_once_per_message() -> None:
    seen: list[Message] = []

    def combine(acc: frozenset[str], m: Message) -> frozenset[str]:
        seen.append(m)
        return add_origin(acc, m)

    fold = Fold(start=lambda: NO_ORIGINS, combine=combine)
    history: list[Message] = [UserMessage(content="goal")]
    assert fold.over(history) == origin_labels(history)
    history.append(_result("calc", trusted=True))
    assert fold.over(history) == origin_labels(history) == {"user", "tool"}
    history.append(_result("fetch"))
    assert fold.over(history) == origin_labels(history)
    assert UNTRUSTED in fold.over(history)
    assert len(seen) == 3  # each message folded once


def test_a_replaced_or_shorter_conversation_is_folded_from_the_start() -> None:
    fold = Fold(start=lambda: NO_ORIGINS, combine=add_origin)
    tainted: list[Message] = [UserMessage(content="goal"), _result("fetch")]
    assert UNTRUSTED in fold.over(tainted)
    window: list[Message] = [UserMessage(content="goal")]  # a new object at position 0
    assert fold.over(window) == origin_labels(window) == {"user"}
    same_start = [*window]  # shorter than what was folded before, same first message
    fold.over([*window, _result("fetch")])
    assert fold.over(same_start) == {"user"}
