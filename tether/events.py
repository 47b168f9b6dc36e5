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
    # the person the run is about, as the keyed hash that names them in tether's tables (the
    # journal never names them): PII in the run's payloads is sealed with their data key
    subject_hash: str | None = None
    team: dict[str, Any] | None = None  # a team run: its portable spec (tether.team)
    # what started it when not a person: {"trigger": NAME, "delivery": KEY} for a webhook
    origin: dict[str, Any] = Field(default_factory=dict)
    user_group: str | None = None  # the user's group: feature flags may be set per group
    # a shadow run (``tether runs shadow``): the production run whose inputs it re-ran
    shadow_of: str | None = None


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
    # working memory (``tether/agent/memory``): the shown conversation starts at message
    # ``start`` and follows the ``memory`` messages (summaries; the goal once its step is
    # summarized); ``prompt_tokens`` is the prompt's size as working memory counted it
    start: int = 0
    memory: list[dict[str, Any]] = Field(default_factory=list)
    prompt_tokens: int | None = None


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


class MemorySummarized(_Payload):
    """Working memory condensed part of the prompt (``tether/agent/memory``), before the model
    call at this step.

    A new block summarizes the conversation's groups ``first``..``last`` (turn numbers of the
    session for ``scope="session"``, step numbers of this run for ``scope="run"``) and moves the
    window's start to message ``upto``; a merge (``merged``: the positions of the blocks it
    replaces) condenses earlier blocks into one of a higher ``level``. A rebuilt run applies
    this event instead of summarizing again, so it builds the same prompts. A model summary's
    usage is here and in the step's ``budget_charged`` event (index ``-1 - i``).
    """

    kind: Literal["memory_summarized"] = "memory_summarized"
    scope: Literal["session", "run"]
    level: int
    first: int
    last: int
    text: str
    tokens: int
    upto: int = 0
    merged: list[int] = Field(default_factory=list)
    covered_tokens: int = 0  # what the summarized groups or blocks took before
    summarizer: str = "extractive"
    counter: str = ""  # how tokens were counted (the model's tokenizer or the estimate)
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: str = "0"


class SessionContext(_Payload):
    """What a turn of a session carries from the session's earlier turns: the summary blocks
    and the turns still verbatim (each ``{"turn", "user", "assistant"}``), as the previous
    turn's run left them. Journaled with ``run_started``; a rebuilt run needs no other run."""

    kind: Literal["session_context"] = "session_context"
    session: str
    turn: int
    previous_run: str | None = None
    first_turn: int = 0
    turns: list[dict[str, Any]] = Field(default_factory=list)
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    tainted: bool = False  # an earlier turn read untrusted content (the injection defense)


class CheckViolation(_Payload):
    """A per-run automatic check the run failed (``tether/evals/autochecks.py``): no-op tool
    spam, the external-call budget, personal data sent to an unapproved sink, or a write that
    ran without the approval policy asked for. Journaled at the finish, before
    ``run_finished``."""

    kind: Literal["check_violation"] = "check_violation"
    check: Literal["noop_spam", "external_calls", "pii_sink", "unapproved_write"]
    detail: str = ""
    call_id: str | None = None
    tool: str | None = None
    count: int = 1
    limit: int | None = None


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


class _PlanPayload(_Payload):
    """A plan the model wrote (``tether/plan``): accepted and run, or rejected and why."""

    version: int  # 1 for the first plan, then one more per revision
    accepted: bool
    plan: dict[str, Any] | None = None  # the validated plan (``Plan.to_json``)
    error: str | None = None  # why it was rejected before anything ran
    reason: str | None = None  # why the plan was revised (the failure it answers)
    samples: int = 1  # plan variants the model was asked for (self-consistency)
    agreement: int = 1  # how many of them matched the chosen one


class PlanCreated(_PlanPayload):
    kind: Literal["plan_created"] = "plan_created"


class PlanRevised(_PlanPayload):
    kind: Literal["plan_revised"] = "plan_revised"


class PlanWave(_Payload):
    """Plan steps whose dependencies are done, with their arguments resolved: run together as
    the tool calls of one step position."""

    kind: Literal["plan_wave"] = "plan_wave"
    version: int
    step_ids: list[str]
    calls: list[dict[str, Any]]  # {"id", "name", "arguments"}


class PlanStepFailed(_Payload):
    """A plan step that could not run (a reference to a missing result or field)."""

    kind: Literal["plan_step_failed"] = "plan_step_failed"
    version: int
    step_id: str
    error: str


class CriticVerdict(_Payload):
    """The critic's verdict on a plan step's result or (``target="goal"``) on the run's answer."""

    kind: Literal["critic_verdict"] = "critic_verdict"
    version: int = 0
    target: str
    verdict: Literal["pass", "fail"]
    explain: str = ""
    checks: list[dict[str, Any]] = Field(default_factory=list)  # each rule or criterion
    confidence: float | None = None  # the judge's, when a model judged
    judge: str | None = None  # the judge model id


class RouteChosen(_Payload):
    """``mode: auto``: the loop a goal was routed to, the model chosen for it, and why."""

    kind: Literal["route_chosen"] = "route_chosen"
    mode: Literal["react", "plan"]
    model: str | None = None
    reason: str = ""


class ReflectRound(_Payload):
    """One round of ``mode: reflect``: the draft (at step ``draft_step``), the external check's
    outcome and the critique fed to the next draft."""

    kind: Literal["reflect_round"] = "reflect_round"
    round: int
    draft_step: int
    checker: str
    passed: bool
    errors: str = ""
    critique: str = ""


class MemoryRead(_Payload):
    """Items a run read from memory (``tier``: semantic, episodic or profile), by id: a memory
    tool's call (``call_id``) or the runtime's own read. The items' text stays in the store."""

    kind: Literal["memory_read"] = "memory_read"
    tier: str
    item_ids: list[str] = Field(default_factory=list)
    tool: str | None = None
    call_id: str | None = None


class MemoryWritten(_Payload):
    """Items a run wrote to memory, by id, with the reason recorded: an episode at the
    finish, or a memory tool's write (``call_id``); ``trimmed`` lists items the write
    policy's caps deleted to make room."""

    kind: Literal["memory_written"] = "memory_written"
    tier: str
    item_ids: list[str] = Field(default_factory=list)
    reason: str = ""
    tool: str | None = None
    call_id: str | None = None
    trimmed: list[str] = Field(default_factory=list)


class TeamTurn(_Payload):
    """A role of a team takes a turn: its model and tool steps are ``step_base`` up to
    ``step_base + step_cap`` (so every event of the turn belongs to ``role``)."""

    kind: Literal["team_turn"] = "team_turn"
    role: str
    turn: int
    step_base: int
    step_cap: int
    input: str
    delegated_by: str | None = None  # supervisor: the manager that handed the task over


class TeamTurnFinished(_Payload):
    kind: Literal["team_turn_finished"] = "team_turn_finished"
    role: str
    turn: int
    status: str
    output: str | None = None
    reason: str | None = None
    success: bool | None = None  # the role's success metric on its output (None: none declared)
    tokens: int = 0
    money_micros: int = 0
    tool_calls: int = 0
    steps: int = 0


class Handoff(_Payload):
    """A supervisor hands a task to a role (one handoff tool call of its model)."""

    kind: Literal["handoff"] = "handoff"
    from_role: str
    to_role: str
    task: str
    call_id: str
    turn: int | None = None  # the delegate's turn; None when the arbiter refused it


class ArbiterDecision(_Payload):
    """What the team's arbiter decided and by which rule (budget, max_turns, repetition,
    no_progress, termination, conflict, speaker)."""

    kind: Literal["arbiter_decision"] = "arbiter_decision"
    decision: Literal["continue", "stop", "refuse", "resolve", "speaker"]
    rule: str
    reason: str
    role: str | None = None
    status: str | None = None  # the team's final status when the decision stops it


class ToolCallShadowed(_Payload):
    """How a shadow run answered a tool call instead of executing it (``tether runs shadow``):
    a write (anything not declared ``read``) is recorded, not executed, and answered with the
    production run's result for the same call or a stub (``answer``: ``recorded`` or
    ``stub``); a read is answered from the production run's recorded result (``recorded``)
    or, when the production run made no such call, run for real (``live``)."""

    kind: Literal["tool_call_shadowed"] = "tool_call_shadowed"
    call_id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    side_effect: str = "write"
    answer: Literal["recorded", "stub", "live"]
    production_run: str


class FlagApplied(_Payload):
    """A feature flag changed what a run may do (``tether flags``): ``capability`` (a tool's
    ``tool:NAME``, ``memory_writes``, ``autonomy``, ``triggers``) set to ``value`` for
    ``scope`` (``tenant:T`` or ``group:T/G``), and ``effect``, what it changed in this run."""

    kind: Literal["flag_applied"] = "flag_applied"
    capability: str
    value: str
    scope: str
    effect: str


class CompensationDecided(_Payload):
    """Policy's decision about undoing a completed write (``tether runs compensate``).

    A compensation is a tool call like any other (DESIGN §2.2): it is decided as action
    ``invoke`` on the write's tool with the write's arguments and the context
    ``compensation: true``, with no model context (an operator asks, not the model). Keyed at
    the write's own position; ``by`` is the operator who ran the command (``TETHER_USER``).
    An ``approval`` outcome's later decision by a person is ``compensation_approval``."""

    kind: Literal["compensation_decision"] = "compensation_decision"
    call_id: str
    tool: str
    outcome: Literal["allow", "deny", "require_approval"]
    action: str = "invoke"
    principal: str = ""
    resource: str = ""
    reasons: list[str] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    policies_version: str = ""
    by: str | None = None


class CompensationRequested(_Payload):
    """A compensation that waits for a person (``tether approvals``); the command stops
    there and goes on when run again after the decision."""

    kind: Literal["compensation_requested"] = "compensation_requested"
    approval_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    side_effect: str = "write"
    reasons: list[str] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    approvers: int = 1
    reviewers: str = ""
    deadline: datetime | None = None


class CompensationApproval(_Payload):
    """A person's (or a timeout's) final word on a ``compensation_requested`` undo, journaled
    by the ``tether runs compensate`` that acts on it."""

    kind: Literal["compensation_approval"] = "compensation_approval"
    approval_id: str
    call_id: str
    tool: str
    outcome: Literal["approved", "denied", "expired"]
    reason: str | None = None
    by: list[str] = Field(default_factory=list)
    decided_at: datetime | None = None


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
    | MemorySummarized
    | SessionContext
    | CheckViolation
    | RunFinished
    | PlanCreated
    | PlanRevised
    | PlanWave
    | PlanStepFailed
    | CriticVerdict
    | RouteChosen
    | ReflectRound
    | MemoryRead
    | MemoryWritten
    | TeamTurn
    | TeamTurnFinished
    | Handoff
    | ArbiterDecision
    | ToolCallShadowed
    | FlagApplied
    | CompensationDecided
    | CompensationRequested
    | CompensationApproval,
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
    "memory_read",
    "memory_written",
    "memory_summarized",
    "session_context",
    "check_violation",
    "run_finished",
    "plan_created",
    "plan_revised",
    "plan_wave",
    "plan_step_failed",
    "critic_verdict",
    "route_chosen",
    "reflect_round",
    "team_turn",
    "team_turn_finished",
    "handoff",
    "arbiter_decision",
    "tool_call_shadowed",
    "flag_applied",
    "compensation_decision",
    "compensation_requested",
    "compensation_approval",
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
