"""Fallback tools: when a tool's call fails, call the tool named as its fallback instead."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tether.errors import ConfigError, ToolError
from tether.tools.contract import ToolContext
from tether.tools.executor import PreparedCall, ToolOutcome
from tether.tools.registry import ToolRegistry
from tether.tools.resilience._base import RoutedCall, ToolRunner, ToolRunnerWrapper, mark
from tether.types import ToolCall


class FallbackTools(ToolRunnerWrapper):
    """``fallbacks`` maps a tool name to the tool to call when it fails.

    Any error outcome of the primary (after its retries, or ``circuit_open``) triggers the
    fallback, resolved in the call's registry (``prepare`` remembers it; ``registry`` serves
    calls prepared elsewhere) with the model's arguments validated against the fallback's own
    schema. When the fallback is unknown or the arguments do not fit it, the primary's outcome
    is returned. Fallbacks chain (``a -> b -> c``) and never revisit a tool. The outcome is a
    ``ResilientOutcome`` with ``fallback_from`` (the tool that failed before it).
    """

    def __init__(
        self,
        inner: ToolRunner,
        fallbacks: Mapping[str, str],
        *,
        registry: ToolRegistry | None = None,
    ) -> None:
        super().__init__(inner)
        loops = sorted(name for name, other in fallbacks.items() if name == other)
        if loops:
            raise ConfigError(f"tools {loops!r} name themselves as fallback; name another tool")
        self.fallbacks = MappingProxyType(dict(fallbacks))
        self._registry = registry

    def prepare(self, registry: ToolRegistry, call: ToolCall) -> PreparedCall:
        p = self.inner.prepare(registry, call)
        return RoutedCall(call=p.call, tool=p.tool, arguments=p.arguments, registry=registry)

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        outcome = await self.inner.execute(prepared, ctx)
        registry = getattr(prepared, "registry", None) or self._registry
        tried = {prepared.tool.contract.name}
        current = prepared
        while not outcome.ok and registry is not None:
            name = self.fallbacks.get(current.tool.contract.name)
            if name is None or name in tried:
                break
            tried.add(name)
            call = ToolCall(id=prepared.call.id, name=name, arguments=prepared.call.arguments)
            try:
                nxt = self.inner.prepare(registry, call)
            except ToolError:
                break
            failed = current.tool.contract.name
            primary_error = outcome.error
            outcome = mark(
                await self.inner.execute(nxt, ctx),
                fallback_from=failed,
                primary_error=primary_error,
            )
            current = nxt
        return outcome
