"""A read cache: successful results of idempotent read tools, by tool and arguments, for a TTL."""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from typing import Any

from tether.clock import Clock, SystemClock
from tether.errors import ConfigError
from tether.tools.contract import ToolContext, ToolContract
from tether.tools.executor import PreparedCall, ToolOutcome
from tether.tools.resilience._base import ToolRunner, ToolRunnerWrapper, mark


def is_cacheable(contract: ToolContract) -> bool:
    """A tool's results may be reused when it only reads and says it is idempotent."""
    return contract.side_effect == "read" and contract.idempotent


def cache_key(name: str, arguments: dict[str, Any]) -> str:
    """The tool name and its arguments as canonical JSON."""
    args = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    return f"{name}:{args}"


class ToolResultCache:
    """A pure TTL + LRU map from ``cache_key`` to JSON results; reads an injected clock."""

    def __init__(
        self, *, ttl_s: float = 300.0, max_entries: int = 1024, clock: Clock | None = None
    ) -> None:
        if ttl_s <= 0 or max_entries < 1:
            raise ConfigError(
                f"ToolResultCache needs ttl_s > 0 and max_entries >= 1, "
                f"not ttl_s={ttl_s!r}, max_entries={max_entries!r}"
            )
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock or SystemClock()
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Any]:
        """``(True, result)`` for a fresh entry, else ``(False, None)``."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, result = entry
        if self._clock.monotonic() >= expires:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, copy.deepcopy(result)

    def put(self, key: str, result: Any) -> None:
        expires = self._clock.monotonic() + self.ttl_s
        self._entries[key] = (expires, copy.deepcopy(result))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class CachedTools(ToolRunnerWrapper):
    """Serves cacheable calls from ``cache``; a hit is a ``ResilientOutcome`` with
    ``cached=True`` and ``attempts=0``. Only successful outcomes are stored."""

    def __init__(self, inner: ToolRunner, cache: ToolResultCache) -> None:
        super().__init__(inner)
        self.cache = cache

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        contract = prepared.tool.contract
        if not is_cacheable(contract):
            return await self.inner.execute(prepared, ctx)
        key = cache_key(contract.name, prepared.arguments)
        found, result = self.cache.get(key)
        if found:
            return mark(
                ToolOutcome(ok=True, result=result, error=None, attempts=0, latency_ms=0.0),
                cached=True,
            )
        outcome = await self.inner.execute(prepared, ctx)
        if outcome.ok:
            self.cache.put(key, outcome.result)
        return outcome
