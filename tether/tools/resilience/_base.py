"""What the tool wrappers share: the runner protocol, a delegating base and outcome types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from tether.tools.contract import ToolContext
from tether.tools.executor import PreparedCall, ToolOutcome
from tether.tools.registry import ToolRegistry
from tether.types import ToolCall


class ToolRunner(Protocol):
    """What ``ToolExecutor`` and every wrapper here offer."""

    def prepare(self, registry: ToolRegistry, call: ToolCall) -> PreparedCall: ...

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome: ...

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]: ...


class ToolRunnerWrapper:
    """Delegates to ``inner``; a subclass overrides ``execute`` to add one behaviour."""

    def __init__(self, inner: ToolRunner) -> None:
        self.inner = inner

    def prepare(self, registry: ToolRegistry, call: ToolCall) -> PreparedCall:
        return self.inner.prepare(registry, call)

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        return await self.inner.execute(prepared, ctx)

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]:
        """Calls of one tool as one batch call; wrappers treat it as one call."""
        return await self.inner.execute_batch(prepared, ctxs)


@dataclass(frozen=True)
class RoutedCall(PreparedCall):
    """A prepared call that remembers its registry, so a fallback tool can be resolved."""

    registry: ToolRegistry | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ResilientOutcome(ToolOutcome):
    """A ``ToolOutcome`` with what the resilience layer did to produce it.

    ``cached``: served from the read cache (then ``attempts`` is 0). ``fallback_from``: the
    tool that failed before this outcome's tool was called instead; ``primary_error`` its error.
    """

    cached: bool = False
    fallback_from: str | None = None
    primary_error: dict[str, Any] | None = None


def mark(outcome: ToolOutcome, **marks: Any) -> ResilientOutcome:
    """``outcome`` as a ``ResilientOutcome`` with ``marks`` set (earlier marks are kept)."""
    values = {f.name: getattr(outcome, f.name) for f in fields(outcome)}
    values.update(marks)
    return ResilientOutcome(**values)


def error_outcome(code: str, message: str, **detail: Any) -> ToolOutcome:
    """A structured error outcome for a call that was not made."""
    return ToolOutcome(
        ok=False,
        result=None,
        error={"code": code, "message": message, **detail},
        attempts=0,
        latency_ms=0.0,
    )
