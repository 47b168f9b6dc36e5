"""Prompt-injection defense as a property of the runtime (pure functions).

Every message carries its origin (``user``, ``operator``, ``system``, ``model``,
``tool:<name>``, ``retrieval:<name>``). Two facts go into each tool call's policy context:

- ``tainted``: untrusted content has entered the model's context: the output of a tool that
  does not declare ``trusted_output``, or a retrieved document. Taint is whole-context: once
  the model has read such content, anything it asks for may be the content's doing, whatever
  encoding or splitting the content used. tether's own error results (a call that never ran)
  and trusted tools' outputs do not taint.
- ``unsupplied_args``: the names of the call's arguments whose values the user did not
  supply, computed only for a sink in a tainted context. A value is user-supplied when it
  appears in a user or operator message (the goal included): a string as a whole word
  sequence (case and spacing ignored), a number as a number in the text. Everything else (an
  address, URL, amount or body the model composed or copied from tool output) is not. Values
  are not traced through tool output: that is what encoding (base64) or splitting defeats.

The ``injection`` policy pack turns the facts into a decision: a sink called in a tainted
context with any unsupplied argument needs a person's approval. Booleans and nulls carry no
data and count as supplied; a value holding a redaction marker (``[REDACTED:email]``, the
state's form of data when redaction is on) never does, since the marker hides what it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tether.tools.contract import ToolContract
from tether.types import AssistantMessage, Message, SystemMessage, ToolResultMessage, UserMessage

UNTRUSTED = "untrusted"
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?")
_SPACE = re.compile(r"\s+")
_MARKER = "[redacted:"


def result_origin(contract: ToolContract) -> str:
    """The origin of what ``contract``'s tool returns."""
    return f"retrieval:{contract.name}" if contract.retrieval else f"tool:{contract.name}"


def origin_of(m: Message) -> str:
    if isinstance(m, SystemMessage):
        return "system"
    if isinstance(m, UserMessage):
        return m.origin
    if isinstance(m, AssistantMessage):
        return "model"
    return m.origin or f"tool:{m.name}"


def is_untrusted(m: Message) -> bool:
    """Content the model must treat as data: a tool's or retrieval's output, not trusted."""
    return isinstance(m, ToolResultMessage) and origin_of(m) != "system" and not m.trusted


def tainted(messages: Iterable[Message]) -> bool:
    return any(is_untrusted(m) for m in messages)


def origin_labels(messages: Iterable[Message]) -> frozenset[str]:
    """The kinds of origin in the context (``user``, ``operator``, ``tool``, ``retrieval``),
    plus ``untrusted`` once untrusted content is in it."""
    found = NO_ORIGINS
    for m in messages:
        found = add_origin(found, m)
    return found


NO_ORIGINS = frozenset({"user"})  # the goal


def add_origin(found: frozenset[str], m: Message) -> frozenset[str]:
    """``found`` with ``m``'s origin kind (a step of ``origin_labels``, for folding)."""
    if not isinstance(m, UserMessage | ToolResultMessage):
        return found
    kind = origin_of(m).partition(":")[0]
    new = {kind} if kind != "system" else set()
    if is_untrusted(m):
        new.add(UNTRUSTED)
    return found if new <= found else found | new


@dataclass(frozen=True, kw_only=True)
class Supplied:
    """What the user and operators wrote: normalized text and the numbers in it."""

    text: str
    numbers: frozenset[Decimal]

    @classmethod
    def of(cls, messages: Iterable[Message]) -> Supplied:
        texts = [
            m.content
            for m in messages
            if isinstance(m, UserMessage) and m.origin in ("user", "operator")
        ]
        text = _normal("\n".join(texts))
        return cls(text=text, numbers=frozenset(_numbers(text)))

    def has(self, value: Any) -> bool:
        """Whether ``value`` (a JSON leaf) appears in what the user supplied."""
        if value is None or isinstance(value, bool):
            return True
        if isinstance(value, int | float | Decimal):
            number = _decimal(value)
            return number is not None and number in self.numbers
        if not isinstance(value, str):
            return False
        needle = _normal(value)
        if not needle:
            return True
        if _MARKER in needle:
            return False
        pattern = r"(?<!\w)" + re.escape(needle) + r"(?!\w)"
        return re.search(pattern, self.text) is not None


def unsupplied_args(arguments: Mapping[str, Any], supplied: Supplied) -> list[str]:
    """The arguments with at least one value (leaf of the JSON) the user did not supply."""
    return sorted(name for name, value in arguments.items() if not _all_supplied(value, supplied))


def injection_context(
    contract: ToolContract,
    arguments: Mapping[str, Any],
    history: Sequence[Message],
    *,
    dirty: bool | None = None,
) -> dict[str, Any]:
    """``tainted``, and for a sink in a tainted context ``unsupplied_args``; ``dirty``: the
    taint when the caller has it already (``UNTRUSTED in origin_labels(history)``)."""
    dirty = tainted(history) if dirty is None else dirty
    out: dict[str, Any] = {"tainted": dirty}
    if dirty and contract.is_sink:
        out["unsupplied_args"] = unsupplied_args(arguments, Supplied.of(history))
    return out


def _all_supplied(value: Any, supplied: Supplied) -> bool:
    if isinstance(value, Mapping):
        return all(_all_supplied(v, supplied) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_all_supplied(v, supplied) for v in value)
    return supplied.has(value)


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text.casefold()).strip()


def _numbers(text: str) -> Iterable[Decimal]:
    for match in _NUMBER.finditer(text):
        number = _decimal(match.group().replace(",", ""))
        if number is not None:
            yield number


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number.normalize() if number.is_finite() else None
