"""tether's one exception hierarchy.

Developer misuse, run failures and control-flow signals are kept apart::

    TetherError                      every error tether raises
    ├── ConfigError                  misuse: bad settings, agent file, model id (exit 64)
    │   ├── AgentSpecError           an agent file or definition is invalid
    │   ├── SecretError              a tool's secret is undeclared or not set
    │   └── UnknownModelError        a model id names no known provider or file
    ├── UsageError                   a command or API was called wrongly (exit 64)
    │   ├── RunNotFound              no run has that id
    │   └── CapabilityDisabled       a feature flag switched the capability off (triggers)
    ├── StoreError                   the database could not be read or written
    └── RunError                     something went wrong *inside* a run
        ├── ModelError               a model call failed
        │   ├── ModelOutputError     the model's output stayed invalid after retries
        │   ├── ModelTransientError  worth retrying (5xx, timeout)
        │   │   └── ModelRateLimited 429, with the provider's Retry-After
        │   └── ModelUnavailable     unreachable, bad key, or circuit open
        ├── ToolError                a tool call failed
        │   ├── ToolTimeout          it ran past its timeout
        │   ├── ToolArgumentError    its arguments violate the input schema
        │   ├── ToolOutputError      its result violates the output schema
        │   ├── TransientToolError   a failure worth retrying
        │   ├── HttpStatusError      an HTTP tool's server answered with an error status
        │   ├── EgressBlocked        the SSRF guard refused an HTTP tool's target
        │   ├── MemoryRefused        the agent's memory policy refused a read or write
    │   ├── ToolDisabled         a feature flag switched the tool (or memory writes) off
        │   └── UnknownToolError     no tool has that name
        ├── PolicyDenied             policy refused the call
        └── BudgetExceeded           a limit was reached

    BaseException
    └── ControlSignal                not errors: they steer the run (never swallowed
        ├── Cancelled                by ``except Exception``)
        └── ApprovalRequired

Errors a model can fix (bad arguments, unknown tool names) are returned to the model as
structured tool results; they are raised only inside the tool layer.
"""

from __future__ import annotations

from typing import Any


class TetherError(Exception):
    """Base class of every error tether raises."""


class ConfigError(TetherError):
    """The configuration, an agent definition or a model id is wrong."""


class AgentSpecError(ConfigError):
    """An agent file or definition is invalid; the message names the file and field."""


class SecretError(ConfigError):
    """A tool asked for a secret it did not declare, or a declared secret is not set."""


class UnknownModelError(ConfigError):
    """A model id names no known provider or model file."""


class UsageError(TetherError):
    """A command or API was called wrongly."""


class RunNotFound(UsageError):
    """No run has the given id."""


class CapabilityDisabled(UsageError):
    """A feature flag (``tether flags``) switched the capability off for the tenant or group."""


class StoreError(TetherError):
    """The run store could not be read or written."""


class RunError(TetherError):
    """A failure inside a run."""


class ModelError(RunError):
    """A model call failed."""


class ModelOutputError(ModelError):
    """The model's output stayed invalid after the allowed retries."""


class ModelTransientError(ModelError):
    """A failure worth retrying: 5xx, a timeout, a dropped connection."""


class ModelRateLimited(ModelTransientError):
    """429: retry after ``retry_after`` seconds when the provider says."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ModelUnavailable(ModelError):
    """The provider cannot be used now: unreachable, bad key, or its circuit breaker is open."""


class ToolError(RunError):
    """A tool call failed. ``detail`` is the structured form shown to the model."""

    code = "tool_error"

    def __init__(self, message: str, *, tool: str = "", detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.tool = tool
        self.detail = detail or {}

    def to_result(self) -> dict[str, Any]:
        """The structured error a model sees as the tool's result."""
        return {"error": {"code": self.code, "message": str(self), **self.detail}}


class MemoryRefused(ToolError):
    """The agent's memory policy (``memory:`` in its spec) refused a memory read or write."""

    code = "memory_refused"


class ToolDisabled(ToolError):
    """A feature flag (``tether flags``) switched the tool, or memory writes, off."""

    code = "tool_disabled"


class ToolTimeout(ToolError):
    code = "timeout"


class ToolArgumentError(ToolError):
    code = "invalid_arguments"


class ToolOutputError(ToolError):
    code = "invalid_output"


class UnknownToolError(ToolError):
    code = "unknown_tool"


class TransientToolError(ToolError):
    """A failure worth retrying (a tool raises it for flaky dependencies)."""

    code = "transient"


class HttpStatusError(ToolError):
    """An HTTP tool's server answered 4xx/5xx; ``detail`` has the status and a short body."""

    code = "http_status"


class EgressBlocked(ToolError):
    """The SSRF guard refused an HTTP tool's target (private, loopback, link-local...)."""

    code = "egress_blocked"


class PolicyDenied(RunError):
    """Policy refused the call."""


class BudgetExceeded(RunError):
    """A token, call, money or time limit was reached."""


class ControlSignal(BaseException):
    """Steers a run; derives from BaseException so ``except Exception`` cannot swallow it."""


class Cancelled(ControlSignal):
    """The run was cancelled or killed."""


class ApprovalRequired(ControlSignal):
    """The run must wait for a person's decision."""
