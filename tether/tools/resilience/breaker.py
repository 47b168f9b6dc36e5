"""A circuit breaker per tool: stop calling a tool that keeps failing, probe it after a while.

The state machine is ``tether.models.resilience.breaker.CircuitBreaker``; this wrapper asks it
before each call and tells it how the call ended. While a tool's breaker is open the model gets
a structured ``circuit_open`` error telling it to use another tool or answer without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tether.clock import Clock
from tether.models.resilience.breaker import BreakerState, CircuitBreaker
from tether.tools.contract import ToolContext
from tether.tools.executor import PreparedCall, ToolOutcome
from tether.tools.resilience._base import ToolRunner, ToolRunnerWrapper, error_outcome

FAILURE_CODES = frozenset({"timeout", "transient", "tool_error"})


class BreakerTools(ToolRunnerWrapper):
    """One ``CircuitBreaker`` per tool name, made on first use.

    An outcome whose error code is in ``failure_codes`` counts as a failure (after the inner
    executor's retries: one logical call, one failure). Success, and any other error (the tool
    answered, e.g. with invalid output), counts as a success; cancellation only releases a
    half-open probe.
    """

    def __init__(
        self,
        inner: ToolRunner,
        *,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        clock: Clock | None = None,
        failure_codes: Iterable[str] = FAILURE_CODES,
    ) -> None:
        super().__init__(inner)
        CircuitBreaker(failure_threshold=failure_threshold, reset_after_s=reset_after_s)
        self._threshold = failure_threshold
        self._reset_after_s = reset_after_s
        self._clock = clock
        self._failure_codes = frozenset(failure_codes)
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(
                failure_threshold=self._threshold,
                reset_after_s=self._reset_after_s,
                clock=self._clock,
            )
            self._breakers[name] = breaker
        return breaker

    def states(self) -> dict[str, BreakerState]:
        """Each called tool's breaker state, by tool name (for the journal)."""
        return {name: b.state for name, b in sorted(self._breakers.items())}

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        name = prepared.tool.contract.name
        breaker = self.breaker(name)
        if not breaker.allow():
            return circuit_open(name, breaker)
        try:
            outcome = await self.inner.execute(prepared, ctx)
        except BaseException:
            breaker.release()
            raise
        if self._failed(outcome):
            breaker.record_failure()
        else:
            breaker.record_success()
        return outcome

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]:
        """One batch is one call for the breaker: it fails when every call in it failed."""
        name = prepared[0].tool.contract.name
        breaker = self.breaker(name)
        if not breaker.allow():
            return [circuit_open(name, breaker)] * len(prepared)
        try:
            outcomes = await self.inner.execute_batch(prepared, ctxs)
        except BaseException:
            breaker.release()
            raise
        if all(self._failed(o) for o in outcomes):
            breaker.record_failure()
        else:
            breaker.record_success()
        return outcomes

    def _failed(self, outcome: ToolOutcome) -> bool:
        return not outcome.ok and (outcome.error or {}).get("code") in self._failure_codes


def circuit_open(name: str, breaker: CircuitBreaker) -> ToolOutcome:
    """The structured error for a call the open (or probing) breaker refused."""
    wait = round(breaker.retry_after_s, 1)
    if breaker.probing:
        pause = "a probe call is testing it now"
    else:
        pause = f"it is paused for {wait:g} s"
    return error_outcome(
        "circuit_open",
        f"tool {name!r} is failing ({breaker.failures} errors); {pause} "
        "— use another tool or answer without it",
        retry_after_s=wait,
    )
