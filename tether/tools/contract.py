"""Tool contracts: what a tool is, what it accepts, and how it may be called (DESIGN §2.5)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from tether.errors import ConfigError
from tether.secrets import check_declared, no_secrets
from tether.types import ToolSpec

SideEffect = Literal["read", "write", "high_risk"]
SIDE_EFFECTS: tuple[SideEffect, ...] = ("read", "write", "high_risk")
TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
# context fields a policy may test, with their Cedar types (tether/governance/schema.cedarschema)
RISK_FIELDS: Mapping[str, str] = MappingProxyType(
    {"amount": "Long", "quantity": "Long", "recipient": "String"}
)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often a call is retried on ``TransientToolError`` or ``ToolTimeout``.

    The delay before retry ``n`` (1-based) is ``min(max_backoff_s, backoff_s * 2 ** (n - 1))``
    scaled by a random jitter factor in ``[0.5, 1.0]``. A failure that says when to come back
    (``retry_after_s`` in its detail: an HTTP 429 or 503 with ``Retry-After``) waits exactly
    that long instead, if it is at most ``max_retry_after_s``; a longer wait is not made (the
    call gives up at once, and its error tells the model when to try again).
    """

    max_attempts: int = 3
    backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    max_retry_after_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(
                f"RetryPolicy.max_attempts is {self.max_attempts!r}; "
                "set it to 1 or more (1 means no retries)"
            )
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ConfigError(
                f"RetryPolicy backoff values must be >= 0, got backoff_s={self.backoff_s!r} "
                f"and max_backoff_s={self.max_backoff_s!r}"
            )
        if self.max_retry_after_s < 0:
            raise ConfigError(
                f"RetryPolicy.max_retry_after_s is {self.max_retry_after_s!r}; "
                "set it to 0 or more seconds (0: never wait for a Retry-After)"
            )

    def delay_s(self, retry_number: int, jitter: float) -> float:
        """The delay before retry ``retry_number`` (1-based); ``jitter`` is in ``[0, 1]``."""
        base = min(self.max_backoff_s, self.backoff_s * 2.0 ** max(0, retry_number - 1))
        return float(base * (0.5 + 0.5 * jitter))

    def wait_s(self, retry_number: int, jitter: float, retry_after_s: float | None) -> float | None:
        """The wait before retry ``retry_number``: the server's ``retry_after_s`` when it gave
        one (``None`` when that exceeds ``max_retry_after_s``: give up), else the backoff."""
        if retry_after_s is None:
            return self.delay_s(retry_number, jitter)
        wait = max(0.0, float(retry_after_s))
        return wait if wait <= self.max_retry_after_s else None


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(frozen=True, kw_only=True)
class ToolContract:
    """Everything the runtime knows about a tool besides its code."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    auth_scope: str | None = None
    side_effect: SideEffect = "read"
    idempotent: bool = False
    rate_limit_qps: float | None = None
    timeout_ms: int = 10_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cost: Decimal = Decimal(0)
    version: str = "1"
    # policy context field -> argument name (``{"amount": "total"}``); default: arguments
    # named like a risk field
    risk_fields: Mapping[str, str] = field(default_factory=dict)
    # names of the secrets the tool may read (``ctx.secrets[name]``); ``*_write`` names are
    # write credentials, which a read tool may not hold (tether.secrets)
    secrets: tuple[str, ...] = ()
    # may run at the same time as other calls of the same model step; None: reads yes, writes
    # no (they run one after another, in the order the model asked)
    parallel: bool | None = None
    # "process": a sync tool runs in a subprocess that its timeout kills (tether.tools.isolate)
    isolation: Literal["thread", "process"] = "thread"
    # prompt-injection defense (tether/governance/taint.py): a sink carries data out of the
    # run (send, post, pay, write outside the workspace); None: every write/high_risk tool is
    # one. ``trusted_output``: the tool's results cannot carry instructions (a calculator), so
    # they do not taint the context. ``retrieval``: the results are retrieved documents.
    sink: bool | None = None
    trusted_output: bool = False
    retrieval: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_input_schema(self.name, self.input_schema)
        self._check_limits()
        _check_risk_fields(self.name, self.risk_fields, self.input_schema)
        declared = check_declared(self.name, self.side_effect, self.secrets)
        object.__setattr__(self, "secrets", declared)

    @property
    def runs_in_parallel(self) -> bool:
        return self.side_effect == "read" if self.parallel is None else self.parallel

    def _check_limits(self) -> None:
        where = f"tool {self.name!r}"
        if self.side_effect not in SIDE_EFFECTS:
            raise ConfigError(
                f"{where}: side_effect is {self.side_effect!r}; use one of {list(SIDE_EFFECTS)}"
            )
        if not isinstance(self.timeout_ms, int) or self.timeout_ms <= 0:
            raise ConfigError(
                f"{where}: timeout_ms is {self.timeout_ms!r}; set a positive integer of ms"
            )
        if self.rate_limit_qps is not None and self.rate_limit_qps <= 0:
            raise ConfigError(
                f"{where}: rate_limit_qps is {self.rate_limit_qps!r}; "
                "set a positive number or None for no limit"
            )
        if self.cost < 0:
            raise ConfigError(f"{where}: cost is {self.cost!r}; a per-call cost must be >= 0")
        if self.isolation not in ("thread", "process"):
            raise ConfigError(
                f"{where}: isolation is {self.isolation!r}; use 'thread' or 'process'"
            )
        if self.output_schema is not None and not isinstance(self.output_schema, dict):
            raise ConfigError(f"{where}: output_schema must be a JSON Schema dict or None")
        if self.trusted_output and self.retrieval:
            raise ConfigError(
                f"{where}: retrieved documents are never trusted; drop trusted_output or retrieval"
            )

    @property
    def is_sink(self) -> bool:
        """Whether the call can carry data out of the run (explicit, else by tier)."""
        return self.sink if self.sink is not None else self.side_effect != "read"

    def spec(self) -> ToolSpec:
        """What a model is told about this tool."""
        return ToolSpec(
            name=self.name, description=self.description, input_schema=self.input_schema
        )


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not TOOL_NAME_PATTERN.match(name):
        raise ConfigError(
            f"tool {name!r}: name must match {TOOL_NAME_PATTERN.pattern} "
            "(letters, digits and '_', not starting with a digit, at most 64 characters); "
            "rename the tool"
        )


def _check_risk_fields(name: str, risk: Mapping[str, str], schema: dict[str, Any]) -> None:
    properties = schema.get("properties", {})
    for context_field, argument in risk.items():
        if context_field not in RISK_FIELDS:
            raise ConfigError(
                f"tool {name!r}: risk_fields names {context_field!r}; "
                f"use one of {sorted(RISK_FIELDS)}"
            )
        if argument not in properties:
            raise ConfigError(
                f"tool {name!r}: risk_fields maps {context_field!r} to {argument!r}, "
                "which is not an argument; name one of the input schema's properties"
            )


def _check_input_schema(name: str, schema: object) -> None:
    where = f"tool {name!r}: input_schema"
    if not isinstance(schema, dict):
        raise ConfigError(f"{where} must be a JSON Schema dict, got {type(schema).__name__}")
    if schema.get("type") != "object":
        raise ConfigError(f'{where} must be an object schema; add "type": "object"')
    if schema.get("additionalProperties") is not False:
        raise ConfigError(
            f'{where} must forbid unknown arguments; add "additionalProperties": false'
        )
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ConfigError(f'{where}: "properties" must be an object mapping names to schemas')
    missing = [r for r in schema.get("required", []) if r not in properties]
    if missing:
        raise ConfigError(f'{where}: "required" names unknown properties {missing!r}')


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """Run facts injected into a tool that declares a ``ToolContext`` parameter."""

    run_id: str
    idempotency_key: str
    workspace: Path
    # only the secrets the tool's contract declares, read at each access (tether.secrets)
    secrets: Mapping[str, str] = field(default_factory=no_secrets)
    call_id: str


@dataclass(frozen=True)
class Tool:
    """A contract with the function that implements it (sync or async)."""

    contract: ToolContract
    fn: Callable[..., Any]
    wants_context: str | None = None
    # reconcile(ctx) answers "did the call with ctx.idempotency_key already happen?": its result
    # if it did, None if it did not. Used after a crash inside a write call.
    reconcile: Callable[[ToolContext], Any] | None = None
    # compensate(ctx, arguments, result) undoes a completed call (``tether runs compensate``).
    compensate: Callable[[ToolContext, dict[str, Any], Any], Any] | None = None
    # batch(arguments) (or batch(arguments, contexts)) makes several calls in one: a list of
    # validated argument dicts in, a list of results (or exceptions) in the same order out.
    batch: Callable[..., Any] | None = None
    # describe_change(ctx, arguments) -> {"before": ..., "after": ...}: what the call would
    # change, shown to the person asked to approve it (otherwise they see the arguments)
    describe_change: Callable[[ToolContext, dict[str, Any]], Any] | None = None

    @property
    def name(self) -> str:
        return self.contract.name
