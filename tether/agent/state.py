"""A run's state as a fold over its journal events.

The live loop applies each event right after journaling it, and a resumed run rebuilds the same
state by applying the stored events in order: one code path, so resume equals live.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tether.agent.memory.window import Block, WorkingState, apply_block, block_from_json
from tether.events import (
    ApprovalDecided,
    BudgetCharged,
    Event,
    MemorySummarized,
    ModelRequested,
    ModelResponded,
    OperatorSteered,
    PlanWave,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    SessionContext,
    ToolCallFinished,
    ToolCallStarted,
)
from tether.governance.budget import Spend, charge_spend
from tether.plan.ledger import PlanLedger
from tether.types import (
    AssistantMessage,
    Message,
    RunStatus,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)

# stands for untrusted content an earlier turn of the session read (``RunState.history``)
CARRIED_TAINT = ToolResultMessage(
    tool_call_id="session", name="session_memory", content="", origin="tool:session_memory"
)


def call_signature(name: str, arguments: dict[str, Any]) -> str:
    """Identity of a call for the no-progress detector: tool name and canonical arguments."""
    return name + ":" + json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(kw_only=True)
class RunState:
    """Everything the loop needs to take its next step."""

    run_id: str
    goal: str = ""
    messages: list[Message] = field(default_factory=list)
    steps: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    signatures: Counter[str] = field(default_factory=Counter)
    succeeded_calls: list[str] = field(default_factory=list)  # tool names, in order
    pending_calls: tuple[ToolCall, ...] = ()
    model_error: str | None = None  # set when the last model call failed
    calls_done: int = 0  # tool calls of the last model response that have finished
    done_calls: set[int] = field(default_factory=set)  # their indices, finished in any order
    # results of calls that finished before an earlier-indexed one: they join ``messages`` in
    # call order, so the conversation does not depend on which parallel call finished first
    _held: dict[int, ToolCallFinished] = field(default_factory=dict)
    status: RunStatus = RunStatus.RUNNING
    output: str | None = None
    reason: str | None = None
    last_seq: int = 0
    journaled_messages: int = 0  # conversation messages already in a model_request event
    started_at: datetime | None = None  # when run_started was journaled (wall-time budgets)
    spend: Spend = field(default_factory=Spend)  # the sum of the run's budget_charged events
    spend_by: dict[tuple[str, str], Spend] = field(default_factory=dict)  # (source, name)
    operator_seen: int = 0  # the id of the last operator instruction taken in
    rejected_calls: set[str] = field(default_factory=set)  # never ran: tether's own errors
    # a person's decision per call position (step, index): the call's decision on resume
    approvals: dict[tuple[int, int], ApprovalDecided] = field(default_factory=dict)
    plan: PlanLedger = field(default_factory=PlanLedger)  # plan, reflect and auto modes
    # working memory: the session's carried turns, summary blocks, the window's start
    memory: WorkingState = field(default_factory=WorkingState)

    def apply(self, event: Event) -> None:
        if isinstance(event.payload, ToolCallFinished):
            _on_tool_finished(self, event.payload, event.key.index)
        else:
            handler = _HANDLERS.get(type(event.payload))
            if handler is not None:
                handler(self, event.payload)
        self.plan.apply(event)
        if isinstance(event.payload, RunStarted) and self.started_at is None:
            self.started_at = event.ts
        self.last_seq = max(self.last_seq, event.seq)

    def history(self) -> list[Message]:
        """The conversation as policy sees it: a session turn whose earlier turns read
        untrusted content starts tainted (their answers carry that content forward)."""
        return [CARRIED_TAINT, *self.messages] if self.memory.tainted else self.messages

    def tool_spend(self) -> dict[str, Spend]:
        return {name: s for (source, name), s in self.spend_by.items() if source == "tool"}

    @classmethod
    def replay(cls, run_id: str, events: Iterable[Event]) -> RunState:
        state = cls(run_id=run_id)
        for event in events:
            state.apply(event)
        return state


def _on_started(state: RunState, p: Any) -> None:
    assert isinstance(p, RunStarted)
    state.goal = p.goal
    state.messages = [UserMessage(content=p.goal)]


def _on_request(state: RunState, p: Any) -> None:
    assert isinstance(p, ModelRequested)
    new = sum(1 for m in p.messages if m["role"] != "system") - p.transient
    state.journaled_messages = p.prefix + new


def _on_response(state: RunState, p: Any) -> None:
    assert isinstance(p, ModelResponded)
    state.steps += 1
    state.usage = state.usage + Usage(input_tokens=p.input_tokens, output_tokens=p.output_tokens)
    state.cost += Decimal(p.cost)
    calls = tuple(ToolCall(**c) for c in p.tool_calls)
    state.pending_calls = calls
    state.calls_done = 0
    state.done_calls = set()
    state._held = {}
    state.model_error = p.error
    if p.error is None:
        state.messages.append(AssistantMessage(content=p.text, tool_calls=calls))


def _on_plan_wave(state: RunState, p: Any) -> None:
    """Plan steps dispatched as the tool calls of one step position (``tether/plan``)."""
    assert isinstance(p, PlanWave)
    state.steps += 1
    calls = tuple(ToolCall(**c) for c in p.calls)
    state.pending_calls = calls
    state.calls_done = 0
    state.done_calls = set()
    state._held = {}
    state.model_error = None
    state.messages.append(AssistantMessage(content=None, tool_calls=calls))


def _on_tool_started(state: RunState, p: Any) -> None:
    assert isinstance(p, ToolCallStarted)
    state.signatures[call_signature(p.tool, p.arguments)] += 1
    if p.validated:  # call ids repeat across steps: the latest start decides
        state.rejected_calls.discard(p.call_id)
    else:
        state.rejected_calls.add(p.call_id)


def _on_tool_finished(state: RunState, p: ToolCallFinished, index: int) -> None:
    if index in state.done_calls:
        return
    state.tool_calls += 1
    state.calls_done += 1
    state.done_calls.add(index)
    state.cost += Decimal(p.cost)
    state._held[index] = p
    # results join the conversation in call order: index i once 0..i-1 have joined
    while (joined := len(state.done_calls) - len(state._held)) in state._held:
        _add_result(state, state._held.pop(joined))


def _add_result(state: RunState, p: ToolCallFinished) -> None:
    if p.ok:
        state.succeeded_calls.append(p.tool)
    body = p.result if p.ok else {"error": p.error}
    content = json.dumps(body, ensure_ascii=False, default=str)
    state.messages.append(
        ToolResultMessage(
            tool_call_id=p.call_id,
            name=p.tool,
            content=content,
            is_error=not p.ok,
            origin=p.origin or _legacy_origin(state, p),
            trusted=p.trusted,
        )
    )


def _on_charged(state: RunState, p: Any) -> None:
    assert isinstance(p, BudgetCharged)
    spend = charge_spend(p)
    state.spend = state.spend + spend
    key = (p.source, p.name)
    state.spend_by[key] = state.spend_by.get(key, Spend()) + spend


OPERATOR_MARK = "[operator instruction, from a person supervising this run]"


def operator_message(text: str) -> UserMessage:
    """An operator's instruction as the model sees it: a user turn marked as the operator's."""
    return UserMessage(content=f"{OPERATOR_MARK} {text}", origin="operator")


def _on_steered(state: RunState, p: Any) -> None:
    assert isinstance(p, OperatorSteered)
    state.messages.append(operator_message(p.text))
    state.operator_seen = max(state.operator_seen, p.message_id)


def _on_paused(state: RunState, p: Any) -> None:
    assert isinstance(p, RunPaused)
    state.status = RunStatus.PAUSED
    state.reason = p.reason


def _on_resumed(state: RunState, p: Any) -> None:
    assert isinstance(p, RunResumed)
    state.status = RunStatus.RUNNING
    state.reason = None


def _legacy_origin(state: RunState, p: ToolCallFinished) -> str:
    """A result journaled without an origin: tether's own error if the call was rejected
    before it ran, else the tool's output (untrusted)."""
    return "system" if p.call_id in state.rejected_calls else f"tool:{p.tool}"


def _on_finished(state: RunState, p: Any) -> None:
    assert isinstance(p, RunFinished)
    state.status = RunStatus(p.status)
    state.output = p.output
    state.reason = p.reason


def _on_summarized(state: RunState, p: Any) -> None:
    assert isinstance(p, MemorySummarized)
    block = Block(
        scope=p.scope, level=p.level, first=p.first, last=p.last, text=p.text, tokens=p.tokens
    )
    apply_block(state.memory, block, p.merged, p.upto)
    state.usage = state.usage + Usage(input_tokens=p.input_tokens, output_tokens=p.output_tokens)
    state.cost += Decimal(p.cost)


def _on_session(state: RunState, p: Any) -> None:
    """The session's earlier turns go before the goal; its summaries become the first blocks."""
    assert isinstance(p, SessionContext)
    ws = state.memory
    ws.session, ws.turn, ws.first_turn = p.session, p.turn, p.first_turn
    ws.tainted = p.tainted
    ws.carried = len(p.turns)
    ws.blocks = [block_from_json(b) for b in p.blocks]
    carried: list[Message] = []
    for t in p.turns:
        carried.append(UserMessage(content=str(t["user"])))
        carried.append(AssistantMessage(content=str(t.get("assistant") or "")))
    state.messages = [*carried, *state.messages]


def _on_approval_decided(state: RunState, p: Any) -> None:
    assert isinstance(p, ApprovalDecided)
    state.approvals[(p.step, p.index)] = p
    if state.status is RunStatus.PAUSED:  # journaled when the run is reopened
        state.status = RunStatus.RUNNING


_HANDLERS: dict[type, Any] = {
    ApprovalDecided: _on_approval_decided,
    RunStarted: _on_started,
    ModelRequested: _on_request,
    ModelResponded: _on_response,
    ToolCallStarted: _on_tool_started,
    BudgetCharged: _on_charged,
    OperatorSteered: _on_steered,
    RunPaused: _on_paused,
    RunResumed: _on_resumed,
    RunFinished: _on_finished,
    PlanWave: _on_plan_wave,
    MemorySummarized: _on_summarized,
    SessionContext: _on_session,
}


def message_to_dict(message: Message) -> dict[str, Any]:
    """The JSON form of a message, as journaled in ``model_request`` events."""
    if isinstance(message, AssistantMessage):
        return {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls
            ],
        }
    if isinstance(message, ToolResultMessage):
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "name": message.name,
            "content": message.content,
            "is_error": message.is_error,
        }
    if isinstance(message, UserMessage) and message.origin != "user":
        return {"role": "user", "origin": message.origin, "content": message.content}
    role = "system" if isinstance(message, SystemMessage) else "user"
    return {"role": role, "content": message.content}


def prompt_at(events: Iterable[Event], step: int) -> list[dict[str, Any]]:
    """The full prompt (as journaled, redacted) that the model saw at ``step``."""
    conversation: list[dict[str, Any]] = []
    for event in events:
        p = event.payload
        if not isinstance(p, ModelRequested):
            continue
        system = [m for m in p.messages if m["role"] == "system"]
        # messages working memory summarized before they were ever shown leave a gap
        known = conversation[: p.prefix] + [{}] * (p.prefix - len(conversation))
        full = known + [m for m in p.messages if m["role"] != "system"]
        if event.key.step == step:
            return system + p.memory + full[p.start :]
        conversation = full[: len(full) - p.transient]
    raise LookupError(f"no model_request at step {step}")
