"""The retrieval result cache: per canonical search, with a TTL, stale after a write.

An entry remembers the generation of the scope(s) it read (see ``tether_memory_generations``);
a lookup that finds another generation is a miss, so a write to a scope invalidates exactly the
cached searches over that scope, in this process and in others.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from tether.clock import Clock

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    generation: int
    expires: float


class ResultCache(Generic[T]):
    """A bounded LRU of search results; ``ttl_s <= 0`` turns it off."""

    def __init__(self, clock: Clock, *, ttl_s: float = 60.0, max_entries: int = 1024) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()

    def get(self, key: str, generation: int) -> T | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != generation or entry.expires <= self.clock.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.value

    def put(self, key: str, generation: int, value: T) -> None:
        if self.ttl_s <= 0:
            return
        self._entries[key] = _Entry(value, generation, self.clock.monotonic() + self.ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
