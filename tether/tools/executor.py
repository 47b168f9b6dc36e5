"""Run one tool call: resolve, validate, execute with timeout and retries, validate the result.

:meth:`ToolExecutor.execute` never raises an ``Exception``: every failure becomes a structured
error in a :class:`ToolOutcome`. Control signals (``asyncio.CancelledError``,
:class:`tether.errors.ControlSignal`) derive from ``BaseException`` and propagate.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tether.errors import ToolError, ToolTimeout, TransientToolError
from tether.tools.contract import Tool, ToolContext, ToolContract
from tether.tools.jsonable import to_jsonable
from tether.tools.registry import ToolRegistry
from tether.tools.threads import DaemonThreads
from tether.tools.validation import ValidatorCache, validate_arguments, validate_output
from tether.types import ToolCall

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class PreparedCall:
    """A call whose tool is resolved to its canonical name and whose arguments are valid."""

    call: ToolCall
    tool: Tool
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolOutcome:
    """What came of a call: a JSON result or a structured error, with attempts and latency."""

    ok: bool
    result: Any
    error: dict[str, Any] | None
    attempts: int
    latency_ms: float


def failure(exc: ToolError, *, attempts: int = 0, latency_ms: float = 0.0) -> ToolOutcome:
    """The outcome for a failed call (also for errors raised before execution, in ``prepare``)."""
    return ToolOutcome(
        ok=False,
        result=None,
        error=exc.to_result()["error"],
        attempts=attempts,
        latency_ms=latency_ms,
    )


class ToolExecutor:
    """Executes prepared tool calls. Holds no global state; inject ``sleep``/``clock`` in tests."""

    def __init__(
        self,
        *,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock: Clock = clock or time.perf_counter
        self._rng = rng or random.Random()
        self._validators = ValidatorCache()
        self._threads = DaemonThreads()  # sync tools run here, off the event loop

    def prepare(self, registry: ToolRegistry, call: ToolCall) -> PreparedCall:
        """Resolve the tool and validate the arguments; raises ToolError subclasses."""
        tool = registry.resolve(call.name)
        arguments = validate_arguments(tool.contract, call.arguments, cache=registry.validators)
        return PreparedCall(call=call, tool=tool, arguments=arguments)

    async def execute(self, prepared: PreparedCall, ctx: ToolContext) -> ToolOutcome:
        """Run the call with its timeout and retry policy; never raises an ``Exception``."""
        contract = prepared.tool.contract
        start = self._clock()
        attempts = 0
        while True:
            attempts += 1
            try:
                result = await self._attempt(prepared, ctx)
                return ToolOutcome(
                    ok=True,
                    result=result,
                    error=None,
                    attempts=attempts,
                    latency_ms=self._elapsed_ms(start),
                )
            except (TransientToolError, ToolTimeout) as exc:
                wait = self._retry_wait(contract, exc, attempts)
                if wait is None:
                    return failure(exc, attempts=attempts, latency_ms=self._elapsed_ms(start))
                await self._sleep(wait)
            except Exception as exc:
                error = _as_tool_error(exc, prepared.tool)
                return failure(error, attempts=attempts, latency_ms=self._elapsed_ms(start))

    async def _attempt(self, prepared: PreparedCall, ctx: ToolContext) -> Any:
        tool = prepared.tool
        kwargs = dict(prepared.arguments)
        if tool.wants_context is not None:
            kwargs[tool.wants_context] = ctx
        if tool.contract.isolation == "process" and not inspect.iscoroutinefunction(tool.fn):
            from tether.tools.isolate import run_isolated  # the timeout kills the child

            raw = await run_isolated(tool, dict(prepared.arguments), ctx)
        else:
            raw = await _call_with_timeout(tool.contract, tool.fn, (), kwargs, self._threads)
        value = to_jsonable(raw)
        validate_output(tool.contract, value, cache=self._validators)
        return value

    async def execute_batch(
        self, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[ToolOutcome]:
        """Run calls of one tool as one call of its batch form (``Tool.batch``).

        The batch gets the tool's timeout and retry policy as one call; each result is made
        JSON and checked against the output schema on its own, and a result that is an
        exception fails that call only. Never raises an ``Exception``.
        """
        tool = prepared[0].tool
        start = self._clock()
        attempts = 0
        while True:
            attempts += 1
            try:
                raw = await self._batch_attempt(tool, prepared, ctxs)
                break
            except (TransientToolError, ToolTimeout) as exc:
                wait = self._retry_wait(tool.contract, exc, attempts)
                if wait is None:
                    return [self._failed(exc, attempts, start)] * len(prepared)
                await self._sleep(wait)
            except Exception as exc:
                return [self._failed(_as_tool_error(exc, tool), attempts, start)] * len(prepared)
        latency = self._elapsed_ms(start)
        return [self._batch_outcome(tool, value, attempts, latency) for value in raw]

    async def _batch_attempt(
        self, tool: Tool, prepared: Sequence[PreparedCall], ctxs: Sequence[ToolContext]
    ) -> list[Any]:
        assert tool.batch is not None
        arguments = [dict(p.arguments) for p in prepared]
        args: tuple[Any, ...] = (
            (arguments, list(ctxs)) if _wants_contexts(tool.batch) else (arguments,)
        )
        raw = await _call_with_timeout(tool.contract, tool.batch, args, {}, self._threads)
        if not isinstance(raw, list | tuple) or len(raw) != len(prepared):
            got = f"{len(raw)} results" if isinstance(raw, list | tuple) else type(raw).__name__
            raise ToolError(
                f"the batch form of tool {tool.name!r} returned {got} for {len(prepared)} "
                "calls; it must return one result per call, in order",
                tool=tool.name,
            )
        return list(raw)

    def _batch_outcome(self, tool: Tool, raw: Any, attempts: int, latency: float) -> ToolOutcome:
        try:
            if isinstance(raw, Exception):
                raise raw
            value = to_jsonable(raw)
            validate_output(tool.contract, value, cache=self._validators)
        except Exception as exc:
            return failure(_as_tool_error(exc, tool), attempts=attempts, latency_ms=latency)
        return ToolOutcome(ok=True, result=value, error=None, attempts=attempts, latency_ms=latency)

    def _retry_wait(self, contract: ToolContract, exc: ToolError, attempts: int) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up."""
        if not _may_retry(contract, exc, attempts):
            return None
        return contract.retry.wait_s(attempts, self._rng.random(), retry_after_s(exc))

    def _failed(self, exc: ToolError, attempts: int, start: float) -> ToolOutcome:
        return failure(exc, attempts=attempts, latency_ms=self._elapsed_ms(start))

    def _elapsed_ms(self, start: float) -> float:
        return max(0.0, (self._clock() - start) * 1000.0)


def _may_retry(contract: ToolContract, exc: ToolError, attempts: int) -> bool:
    """Retry while attempts remain; a timed-out write is retried only if it is idempotent.

    (An abandoned sync call may still finish its side effect, so repeating a non-idempotent
    write after a timeout could do it twice.)
    """
    if attempts >= contract.retry.max_attempts:
        return False
    if isinstance(exc, ToolTimeout):
        return contract.idempotent or contract.side_effect == "read"
    return True


def retry_after_s(exc: ToolError) -> float | None:
    """The wait a failure asked for (``detail["retry_after_s"]``: an HTTP ``Retry-After``)."""
    value = exc.detail.get("retry_after_s")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _as_tool_error(exc: Exception, tool: Tool) -> ToolError:
    if isinstance(exc, ToolError):
        return exc
    return ToolError(
        f"{type(exc).__name__}: {exc}",
        tool=tool.contract.name,
        detail={"exception": type(exc).__name__},
    )


def _wants_contexts(fn: Callable[..., Any]) -> bool:
    """A batch function taking two parameters also gets the calls' ``ToolContext`` list."""
    try:
        return len(inspect.signature(fn).parameters) >= 2
    except (TypeError, ValueError):  # builtins without a signature
        return False


async def _call_with_timeout(
    contract: ToolContract,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    threads: DaemonThreads,
) -> Any:
    timeout_s = contract.timeout_ms / 1000.0
    cm = asyncio.timeout(timeout_s)
    try:
        async with cm:
            if inspect.iscoroutinefunction(fn):
                return await fn(*args, **kwargs)
            result = await _run_in_thread(
                threads, functools.partial(fn, *args), kwargs, contract.name
            )
            if inspect.isawaitable(result):
                return await result
            return result
    except TimeoutError as exc:
        if not cm.expired():
            raise  # the tool's own TimeoutError: a plain failure, not ours
        raise ToolTimeout(
            f"tool {contract.name!r} did not finish within {contract.timeout_ms} ms; "
            "try again later, with a smaller request, or use another tool",
            tool=contract.name,
            detail={"timeout_ms": contract.timeout_ms},
        ) from exc


async def _run_in_thread(
    threads: DaemonThreads, fn: Callable[..., Any], kwargs: dict[str, Any], name: str
) -> Any:
    """Run a sync function on a daemon thread, which is abandoned if we stop waiting.

    Daemon threads (rather than the loop's default executor) keep an abandoned call from
    blocking event-loop or interpreter shutdown; ``threads`` reuses them across calls, and
    names the one running this call ``tether-tool-NAME``.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def target() -> None:
        try:
            result = context.run(fn, **kwargs)
        except StopIteration as exc:  # cannot be set on a future
            outcome: tuple[Callable[[Any], None], Any] = (
                future.set_exception,
                RuntimeError(f"tool {name!r} raised StopIteration: {exc}"),
            )
        except BaseException as exc:
            outcome = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        try:
            loop.call_soon_threadsafe(deliver, *outcome)
        except RuntimeError:  # the loop closed while the abandoned call ran
            pass

    threads.submit(target, name)
    return await future
