"""Bulkheads: at most N calls of one tool run at once; more wait for a slot."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from tether.errors import ConfigError
from tether.tools.contract import ToolContext
from tether.tools.executor import PreparedCall, ToolOutcome
from tether.tools.resilience._base import ToolRunner, ToolRunnerWrapper

MaxConcurrent = Mapping[str, int] | int | None


class BulkheadTools(ToolRunnerWrapper):
    """``max_concurrent``: one limit for every tool (int), per tool name (mapping; tools not
    named are unlimited), or None for no limit."""

    def __init__(self, inner: ToolRunner, max_concurrent: MaxConcurrent = None) -> None:
        super().__init__(inner)
        limits = max_concurrent.values() if isinstance(max_concurrent, Mapping) else []
        for limit in [max_concurrent, *limits]:
            if isinstance(limit, int) and limit < 1:
                raise ConfigError(
                    f"max_concurrent must be at least 1 per tool, not {limit!r}; "
                    "leave a tool out (or pass None) for no limit"
                )
        self._max = max_concurrent
        self._slots: dict[str, asyncio.Semaphore] = {}

    def limit(self, name: str) -> int | None:
        if isinstance(self._max, Mapping):
            return self._max.get(name)
        return self._max

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        name = prepared.tool.contract.name
        limit = self.limit(name)
        if limit is None:
            return await self.inner.execute(prepared, ctx)
        slots = self._slots.setdefault(name, asyncio.Semaphore(limit))
        async with slots:
            return await self.inner.execute(prepared, ctx)

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]:
        """A batch takes one slot."""
        name = prepared[0].tool.contract.name
        limit = self.limit(name)
        if limit is None:
            return await self.inner.execute_batch(prepared, ctxs)
        async with self._slots.setdefault(name, asyncio.Semaphore(limit)):
            return await self.inner.execute_batch(prepared, ctxs)
