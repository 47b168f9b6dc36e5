"""Core value types: run statuses, messages, tool calls, usage, model requests and responses.

These are tether's own types; vendor SDK types never leave ``tether/models/<vendor>.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal


class RunStatus(StrEnum):
    """The one status enum of a run (DESIGN §3)."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    NEEDS_REVIEW = "needs_review"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    KILLED = "killed"
    BUDGET_EXCEEDED = "budget_exceeded"
    MAX_STEPS = "max_steps"
    NO_PROGRESS = "no_progress"

    @property
    def is_final(self) -> bool:
        return self not in _OPEN_STATUSES

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for a run that ended in this status."""
        return _EXIT_CODES[self]


_OPEN_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
_EXIT_CODES: dict[RunStatus, int] = {
    RunStatus.SUCCEEDED: 0,
    RunStatus.PAUSED: 2,
    RunStatus.NEEDS_REVIEW: 2,
    RunStatus.BUDGET_EXCEEDED: 3,
    RunStatus.MAX_STEPS: 3,
    RunStatus.NO_PROGRESS: 3,
    RunStatus.CANCELLED: 4,
    RunStatus.KILLED: 4,
    RunStatus.FAILED: 1,
    RunStatus.QUEUED: 2,
    RunStatus.RUNNING: 2,
}
EXIT_USAGE = 64


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """A call the model asked for. ``arguments`` are as the model produced them."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SystemMessage:
    content: str
    kind: Literal["system"] = "system"


MessageOrigin = Literal["user", "operator", "memory"]
Origin = str  # "user", "operator", "system", "tool:<name>", "retrieval:<name>"


@dataclass(frozen=True, kw_only=True)
class UserMessage:
    """A turn from the user or, with ``origin="operator"``, from a person supervising the run
    (``tether runs steer``): adapters send both as user turns; the content of an operator's
    turn carries a visible mark. ``origin="memory"``: working memory's summary of earlier turns
    (``tether/agent/memory``), shown as data; it never counts as what the user supplied."""

    content: str
    origin: MessageOrigin = "user"
    kind: Literal["user"] = "user"


@dataclass(frozen=True, kw_only=True)
class AssistantMessage:
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    kind: Literal["assistant"] = "assistant"


@dataclass(frozen=True, kw_only=True)
class ToolResultMessage:
    """A tool's result (or structured error) as the model sees it; ``content`` is JSON text.

    ``origin``: ``tool:<name>`` or ``retrieval:<name>`` for what a tool returned (data, never
    instructions), ``system`` for tether's own error when the call never ran; empty means
    ``tool:<name>``. ``trusted``: the tool declares output that cannot carry instructions.
    """

    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    origin: Origin = ""
    trusted: bool = False
    kind: Literal["tool"] = "tool"


Message = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage


@dataclass(frozen=True, kw_only=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """What a model is told about one tool."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = 0


ToolChoice = Literal["auto", "required", "none"]


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """``tool_choice``: ``"required"``, the model must call one of ``tools``; ``"none"``, it
    must answer (``tools`` then only describe what was available)."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = "auto"
    output_schema: dict[str, Any] | None = None
    settings: ModelSettings = field(default_factory=ModelSettings)


FinishReason = Literal["stop", "tool_calls", "length", "error"]


@dataclass(frozen=True, kw_only=True)
class ModelResponse:
    """A model's answer: text and/or tool calls, with what it cost."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    model_version: str = ""
    finish_reason: FinishReason = "stop"
    latency_ms: float = 0.0
    cost: Decimal = Decimal(0)
    attempts: int = 1
    cached: bool = False  # served from the response cache: no tokens used
    fallbacks: tuple[str, ...] = ()  # "model-id: error" for each provider that failed first


@dataclass(frozen=True, kw_only=True)
class TextDelta:
    """A piece of streamed text."""

    text: str
    kind: Literal["delta"] = "delta"


@dataclass(frozen=True, kw_only=True)
class StreamDone:
    """The end of a stream: the whole response, usage included."""

    response: ModelResponse
    kind: Literal["done"] = "done"


StreamEvent = TextDelta | StreamDone
