"""Facts folded over a run's messages, kept up to date as the conversation grows.

A policy decision needs facts about everything the model has seen: the origins in the context
(``origin_labels``), whether untrusted content entered it (``tainted``) and the data labels of
the prompt. The conversation only grows between two steps, so ``Fold`` keeps the messages it
has already folded and, when the next sequence starts with the same message objects, folds only
the new tail; any other change (a window dropped or replaced messages) folds from the start.
Without it each decision rescanned the whole history: linear in the run's length, per call.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tether.types import Message

T = TypeVar("T")


@dataclass(kw_only=True)
class Fold(Generic[T]):
    """``combine(acc, message)`` over a message sequence, from ``start``, reused across calls."""

    start: Callable[[], T]
    combine: Callable[[T, Message], T]
    _seen: list[Message] = field(default_factory=list, repr=False)
    _value: T | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def over(self, messages: Sequence[Message]) -> T:
        """The fold over ``messages`` (the calls of one wave may ask from several threads)."""
        with self._lock:
            return self._over(messages)

    def _over(self, messages: Sequence[Message]) -> T:
        n = len(self._seen)
        value = self._value
        if value is None or n > len(messages) or not _same_prefix(messages, self._seen):
            value, n = self.start(), 0
            self._seen = []
        for m in messages[n:]:
            value = self.combine(value, m)
        self._seen.extend(messages[n:])
        self._value = value
        return value


def _same_prefix(messages: Sequence[Message], seen: Sequence[Message]) -> bool:
    return all(map(operator.is_, messages[: len(seen)], seen))
