"""Journal events: a discriminated, versioned union of typed payloads.

An event's identity is its position in the run: ``(run_id, segment, step, kind, index)``.
Writing the same event twice (a retried step after a crash) is therefore harmless: the journal
inserts idempotently on that key. ``index`` tells apart events of one kind in one step (the
tool calls of a step, or the attempts of a model call).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

EVENT_SCHEMA_VERSION = 1


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunStarted(_Payload):
    kind: Literal["run_started"] = "run_started"
    goal: str
    agent: str
    agent_version: str
    agent_spec: dict[str, Any] = Field(default_factory=dict)  # rebuilds the agent elsewhere
    model: str
    tools: list[str]
    limits: dict[str, Any]
    tether_version: str
    tenant: str = "default"  # who the run acts for: policy decisions use these
    user: str | None = None
    budget: dict[str, Any] = Field(default_factory=dict)  # the run's own budget, if given
    # what started it when not a person: {"trigger": NAME, "delivery": KEY} for a webhook
    origin: dict[str, Any] = Field(default_factory=dict)


class ModelRequested(_Payload):
    """The exact prompt as sent (after redaction), stored as a delta.

    ``messages`` holds the system message followed by the conversation messages that are new
    since the previous request; ``prefix`` counts the earlier conversation messages that precede
    them (already journaled); the last ``transient`` messages were shown at this step only.
    ``tether.agent.state.prompt_at`` rebuilds the full prompt. Storing deltas keeps a step's cost
    flat as a run grows.
    """

    kind: Literal["model_request"] = "model_request"
    model: str
    messages: list[dict[str, Any]]
    prefix: int = 0
    transient: int = 0  # trailing messages shown at this step only (not part of the history)
    tools: list[str]
    settings: dict[str, Any]
    output_schema: dict[str, Any] | None = None


class ModelResponded(_Payload):
    kind: Literal["model_response"] = "model_response"
    model: str
    model_version: str = ""
    text: str | None = None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: str = "0"
    latency_ms: float = 0.0
    finish_reason: str = "stop"
    attempts: int = 1
    error: str | None = None
    cached: bool = False
    fallbacks: list[str] = Field(default_factory=list)


class ToolCallStarted(_Payload):
    kind: Literal["tool_call_started"] = "tool_call_started"
    call_id: str
    tool: str
    arguments: dict[str, Any]
    idempotency_key: str
    side_effect: str = "read"
    validated: bool = True  # False: rejected before execution; ``arguments`` are as requested


class ToolCallFinished(_Payload):
    kind: Literal["tool_call_finished"] = "tool_call_finished"
    call_id: str
    tool: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    latency_ms: float = 0.0
    attempts: int = 1
    reconciled: bool = False  # the outcome came from the tool's reconcile hook after a crash
    cached: bool = False  # served from the read-tool cache
    fallback_from: str | None = None  # the tool that failed before this one answered
    cost: str = "0"  # the contract's per-call cost, charged when the tool ran
    origin: str | None = None  # "tool:<name>" / "retrieval:<name>"; None: tether's own error
    trusted: bool = False  # the tool's output cannot carry instructions (no taint)


class PolicyDecided(_Payload):
    """A policy decision about one tool or model call (DESIGN §2.8), with its reasons.

    Tool decisions take the call's index; model decisions the negative index ``-1 - n`` of
    the model's place in the fallback chain. A deny or approval also holds ``messages`` (the
    policies' ``@reason`` texts), ``context`` (the facts decided on: risk fields, labels,
    budget left), ``tenant`` and ``user``; an allow keeps to the ids (the facts are in the
    call's own events). Redacted like every payload.
    """

    kind: Literal["policy_decision"] = "policy_decision"
    target: Literal["tool", "model"]
    action: str
    principal: str
    resource: str
    outcome: Literal["allow", "deny", "require_approval"]
    reasons: list[str] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    call_id: str | None = None
    tenant: str = "default"
    user: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    policies_version: str = ""


class ApprovalRequested(_Payload):
    """A call that policy lets run only once a person approves; the run pauses here."""

    kind: Literal["approval_requested"] = "approval_requested"
    target: Literal["tool", "model"]
    call_id: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    side_effect: str | None = None
    idempotency_key: str | None = None
    model: str | None = None
    reasons: list[str] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    policies_version: str = ""
    # the terms of the approval (policy annotations or settings; ``tether.governance.terms``)
    approval_id: str | None = None
    approvers: int = 1
    reviewers: str = ""
    deadline: datetime | None = None
    escalate_to: str | None = None


class ApprovalDecided(_Payload):
    """A person's (or a timeout's) final word on an ``approval_requested`` call.

    Journaled once per request, in the segment that asked (at the request's ``step`` and
    ``index``), when the run is reopened to go on; the next segment applies it: an approved
    call runs once with ``arguments`` (edited or as requested) and is not put to policy again;
    a denied or expired one gives the agent an ``approval_denied`` result with ``reason``.
    """

    kind: Literal["approval_decided"] = "approval_decided"
    approval_id: str
    step: int
    index: int
    target: Literal["tool", "model"]
    call_id: str | None = None
    tool: str | None = None
    model: str | None = None
    outcome: Literal["approved", "denied", "expired"]
    arguments: dict[str, Any] = Field(default_factory=dict)
    edited: bool = False
    idempotency_key: str | None = None
    reason: str | None = None
    by: list[str] = Field(default_factory=list)
    decided_at: datetime | None = None


class GuardrailVerdict(_Payload):
    """One guardrail rule's verdict (``tether/governance/guardrails.py``): on the goal
    (``input``), on the final answer (``output``) or on a tool call (``tool``). ``detail``
    says why without quoting the text."""

    kind: Literal["guardrail_verdict"] = "guardrail_verdict"
    stage: Literal["input", "output", "tool"]
    rule: str
    verdict: Literal["pass", "block", "redact"]
    detail: str = ""
    call_id: str | None = None


class ToolCompensated(_Payload):
    """The undo of a completed write (``tether runs compensate``), or why it was not undone."""

    kind: Literal["tool_compensated"] = "tool_compensated"
    call_id: str
    tool: str
    ok: bool
    result: Any = None
    error: str | None = None


class KillSwitchSet(_Payload):
    """A kill switch that concerns this run was set (journaled by ``tether kill``)."""

    kind: Literal["kill_switch"] = "kill_switch"
    switch_id: int
    scope: str
    target: str = ""
    reason: str = ""
    by: str = ""


class OperatorSteered(_Payload):
    """An operator's instruction, as the run took it in before its step (``tether runs steer``)."""

    kind: Literal["operator_steered"] = "operator_steered"
    message_id: int
    text: str


class RunPaused(_Payload):
    """The run stopped before a step and its segment ended; ``tether runs resume`` goes on."""

    kind: Literal["run_paused"] = "run_paused"
    reason: str | None = None


class RunResumed(_Payload):
    """A paused run goes on in segment ``segment``."""

    kind: Literal["run_resumed"] = "run_resumed"
    segment: int


class BudgetCharged(_Payload):
    """What one model call or tool call used, charged against the run's budgets.

    Keyed by the call's position, in the same transaction as its outcome: charged once.
    ``money_micros`` is money in integer micro-units.
    """

    kind: Literal["budget_charged"] = "budget_charged"
    source: Literal["model", "tool"]
    name: str  # model id or tool name
    tokens: int = 0
    money_micros: int = 0
    tool_calls: int = 0


class RunFinished(_Payload):
    kind: Literal["run_finished"] = "run_finished"
    status: str
    output: str | None = None
    reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: str = "0"
    steps: int = 0
    tool_calls: int = 0


Payload = Annotated[
    RunStarted
    | ModelRequested
    | ModelResponded
    | ToolCallStarted
    | ToolCallFinished
    | ToolCompensated
    | PolicyDecided
    | ApprovalRequested
    | KillSwitchSet
    | OperatorSteered
    | RunPaused
    | RunResumed
    | BudgetCharged
    | GuardrailVerdict
    | ApprovalDecided
    | RunFinished,
    Field(discriminator="kind"),
]
PAYLOAD_ADAPTER: TypeAdapter[Payload] = TypeAdapter(Payload)
EventKind = Literal[
    "run_started",
    "model_request",
    "model_response",
    "tool_call_started",
    "tool_call_finished",
    "tool_compensated",
    "policy_decision",
    "approval_requested",
    "kill_switch",
    "operator_steered",
    "run_paused",
    "run_resumed",
    "budget_charged",
    "guardrail_verdict",
    "approval_decided",
    "run_finished",
]


@dataclass(frozen=True, kw_only=True)
class EventKey:
    """The deterministic identity of an event within its run."""

    run_id: str
    segment: int
    step: int
    kind: str
    index: int = 0

    @property
    def id(self) -> str:
        return f"{self.run_id}/{self.segment}/{self.step}/{self.kind}/{self.index}"


@dataclass(frozen=True, kw_only=True)
class Event:
    """One stored journal event. ``seq`` is its global order; ``v`` its schema version."""

    key: EventKey
    payload: Payload
    seq: int = 0
    ts: datetime | None = None
    v: int = EVENT_SCHEMA_VERSION

    @property
    def id(self) -> str:
        return self.key.id

    @property
    def kind(self) -> str:
        return self.key.kind

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form used by ``tether runs events --json`` and the API."""
        return {
            "id": self.id,
            "seq": self.seq,
            "run_id": self.key.run_id,
            "segment": self.key.segment,
            "step": self.key.step,
            "index": self.key.index,
            "kind": self.kind,
            "v": self.v,
            "ts": self.ts.isoformat() if self.ts else None,
            "payload": self.payload.model_dump(mode="json", exclude={"kind"}),
        }


def parse_payload(data: dict[str, Any]) -> Payload:
    """Validate a stored payload (with its ``kind``) into its typed form."""
    return PAYLOAD_ADAPTER.validate_python(data)
