"""A run's policy gate: who acts, where the policies come from, and the per-run caches.

``decide_tool`` and ``decide_model`` gather the facts (entities, risk fields, labels, budget
left) and ask the loaded ``Policies``; they do no I/O beyond ``PolicySource.current()``, which
stats the policy folder at most once per ``reload_ms``. A policy folder that fails to load
denies every call (fail closed) with the loader's message as the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.errors import ConfigError
from tether.governance.decision import Decision, load_failure
from tether.governance.engine import Resource
from tether.governance.facts import (
    MODEL_FAMILY,
    TOOL_FAMILY,
    Principal,
    budget_context,
    model_entity,
    model_facts,
    risk_context,
    tool_entity,
    tool_uid,
)
from tether.governance.labels import UNTRUSTED, labels_of_text, labels_of_value
from tether.governance.loader import PolicySource
from tether.governance.scan import Fold
from tether.governance.taint import NO_ORIGINS, add_origin, injection_context
from tether.redact import Redactor
from tether.tools.contract import ToolContract
from tether.types import AssistantMessage, Message, SystemMessage

_LABEL_CACHE_LIMIT = 4096


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A decision with the facts it was made on (journaled with it)."""

    decision: Decision
    context: dict[str, Any]
    policies_version: str

    def event_fields(self) -> dict[str, Any]:
        """The decision's fields as journal events spell them (``policy_decision``,
        ``compensation_decision``)."""
        d = self.decision
        return {
            "action": d.action,
            "principal": d.principal,
            "resource": d.resource,
            "outcome": d.outcome,
            "reasons": list(d.reasons),
            "messages": list(d.messages),
            "errors": list(d.errors),
            "context": self.context,
            "policies_version": self.policies_version,
        }


@dataclass(kw_only=True)
class PolicyGate:
    source: PolicySource
    principal: Principal
    regions: Mapping[str, str] = field(default_factory=dict)
    approved: Mapping[str, Sequence[str]] = field(default_factory=dict)
    detector: Redactor | None = None  # finds data in the clear; None: only markers count
    # redaction on: the run state (conversation, tool arguments) is already redacted, so only
    # the system prompt, built from the agent's own text, is scanned
    state_redacted: bool = False
    _tools: dict[str, Resource] = field(default_factory=dict, repr=False)
    _models: dict[str, Resource] = field(default_factory=dict, repr=False)
    # id(message) -> (the message, its labels): the entry holds the message, so its id
    # cannot be reused while cached
    _labels_of: dict[int, tuple[Message, frozenset[str]]] = field(default_factory=dict, repr=False)
    _system_labels: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    # the history's origins and the prompt's data labels, folded as the conversation grows
    _origins: Fold[frozenset[str]] = field(
        default_factory=lambda: Fold(start=lambda: NO_ORIGINS, combine=add_origin), repr=False
    )
    _prompt_labels: Fold[frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._prompt_labels = Fold(
            start=frozenset, combine=lambda acc, m: acc | self._message_labels(m)
        )

    def decide_tool(
        self,
        contract: ToolContract,
        arguments: Mapping[str, Any],
        history: Sequence[Message],
        *,
        tokens_left: int,
        tool_calls_left: int,
        extra: Mapping[str, Any] | None = None,
    ) -> Verdict:
        """``extra``: more context facts (``compensation: true`` for an undo)."""
        origins = self._origins.over(history)
        context: dict[str, Any] = {
            **risk_context(contract, arguments),
            "data_labels": sorted(labels_of_value(dict(arguments), self._scanner)),
            "origin_labels": sorted(origins),
            **injection_context(contract, arguments, history, dirty=UNTRUSTED in origins),
            **budget_context(tokens_left, tool_calls_left),
            **(extra or {}),
        }
        resource = self._tools.get(contract.name)
        if resource is None:
            resource = self._tools[contract.name] = Resource.of(
                tool_entity(contract, self.approved)
            )
        return self._decide(resource, TOOL_FAMILY, context, tool_uid(contract.name))

    def decide_model(
        self,
        model_id: str,
        prompt: Sequence[Message],
        history: Sequence[Message],
        *,
        tokens_left: int,
    ) -> Verdict:
        context: dict[str, Any] = {
            "data_labels": sorted(self._labels(prompt)),
            "origin_labels": sorted(self._origins.over(history)),
            **budget_context(tokens_left),
        }
        resource = self._models.get(model_id)
        if resource is None:
            facts = model_facts(model_id, self.regions, self.approved)
            resource = self._models[model_id] = Resource.of(model_entity(facts))
        return self._decide(resource, MODEL_FAMILY, context, resource.text)

    def _decide(
        self, resource: Resource, family: tuple[str, str], context: dict[str, Any], name: str
    ) -> Verdict:
        try:
            policies = self.source.current()
        except ConfigError as exc:
            failed = load_failure(
                str(exc), action=family[0], principal=self.principal.uid, resource=name
            )
            return Verdict(decision=failed, context=context, policies_version="")
        decision = policies.authorize(self.principal, resource, family, context)
        return Verdict(decision=decision, context=context, policies_version=policies.version)

    @property
    def _scanner(self) -> Redactor | None:
        return None if self.state_redacted else self.detector

    def _labels(self, messages: Sequence[Message]) -> frozenset[str]:
        """The data labels of a prompt: its system messages (rebuilt each step, cached by
        text) and the conversation (folded as it grows)."""
        system = [m for m in messages if isinstance(m, SystemMessage)]
        rest = [m for m in messages if not isinstance(m, SystemMessage)]
        found = self._prompt_labels.over(rest)
        for m in system:
            found |= self._message_labels(m)
        return found

    def _message_labels(self, m: Message) -> frozenset[str]:
        if isinstance(m, SystemMessage):  # rebuilt each step: cached by its text
            known = self._system_labels.get(m.content)
            if known is None:
                if len(self._system_labels) >= _LABEL_CACHE_LIMIT:
                    self._system_labels.clear()
                known = self._system_labels[m.content] = labels_of_text(m.content, self.detector)
            return known
        cached = self._labels_of.get(id(m))
        if cached is not None and cached[0] is m:
            return cached[1]
        labels = labels_of_text(m.content or "", self._scanner)
        if isinstance(m, AssistantMessage) and m.tool_calls:
            labels |= labels_of_value([c.arguments for c in m.tool_calls], self._scanner)
        if len(self._labels_of) >= _LABEL_CACHE_LIMIT:
            self._labels_of.clear()
        self._labels_of[id(m)] = (m, labels)
        return labels
