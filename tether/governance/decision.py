"""The outcome of a policy decision: allow, deny or require approval (a first-class outcome).

Cedar answers allow or deny per request; tether asks twice, once for the attended action
(``invoke``, ``call_model``) and once for the unattended one (``invoke_unattended``,
``call_model_unattended``), and ``combine`` turns the two answers into one ``Decision``. The
approval store, budgets and the kill switch consume ``Decision.outcome``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["allow", "deny", "require_approval"]
DEFAULT_DENY = "tether.default_deny"  # the reason when no policy permits the call
LOAD_ERROR = "tether.policies_invalid"  # the reason when the policies could not be loaded


@dataclass(frozen=True, kw_only=True)
class Answer:
    """One Cedar answer: allowed or not, the ids of the policies that decided, any errors."""

    allowed: bool
    policies: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What policy says about one tool or model call.

    ``reasons`` are the ids of the deciding policies (``@id`` annotations, or
    ``file:policyN``): for ``allow`` the permits, for ``require_approval`` the forbids that
    kept the call from running unattended, for ``deny`` the forbids (``DEFAULT_DENY`` when
    simply nothing permits it). ``messages`` are those policies' ``@reason`` annotations.
    """

    outcome: Outcome
    action: str  # the attended action: "invoke" or "call_model"
    principal: str  # 'Agent::"support"'
    resource: str  # 'Tool::"send_email"'
    reasons: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    @property
    def needs_approval(self) -> bool:
        return self.outcome == "require_approval"

    @property
    def denied(self) -> bool:
        return self.outcome == "deny"

    def explain(self) -> str:
        """One line for a person or a model: what was decided and why."""
        why = "; ".join(self.messages) or ", ".join(self.reasons) or "no reason given"
        verb = {"allow": "allowed", "deny": "denied", "require_approval": "needs approval"}
        return f"{self.action} {self.resource} {verb[self.outcome]} by policy: {why}"

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "action": self.action,
            "principal": self.principal,
            "resource": self.resource,
            "reasons": list(self.reasons),
            "messages": list(self.messages),
            "errors": list(self.errors),
        }


def combine(
    attended: Answer,
    unattended: Answer,
    *,
    action: str,
    principal: str,
    resource: str,
    reasons_text: Mapping[str, str],
) -> Decision:
    """The decision from the answers for the attended and the unattended action."""
    if unattended.allowed and attended.allowed:
        outcome: Outcome = "allow"
        reasons = unattended.policies
    elif attended.allowed:
        outcome, reasons = "require_approval", unattended.policies or (DEFAULT_DENY,)
    else:
        outcome, reasons = "deny", attended.policies or (DEFAULT_DENY,)
    return Decision(
        outcome=outcome,
        action=action,
        principal=principal,
        resource=resource,
        reasons=reasons,
        messages=_messages(reasons, reasons_text),
        errors=_unique((*attended.errors, *unattended.errors)),
    )


def load_failure(message: str, *, action: str, principal: str, resource: str) -> Decision:
    """Fail closed: the policies could not be loaded, so nothing is allowed."""
    return Decision(
        outcome="deny",
        action=action,
        principal=principal,
        resource=resource,
        reasons=(LOAD_ERROR,),
        messages=(message,),
    )


def _messages(reasons: Sequence[str], text: Mapping[str, str]) -> tuple[str, ...]:
    if tuple(reasons) == (DEFAULT_DENY,):
        return ("no policy permits it (deny by default)",)
    return tuple(text[r] for r in reasons if r in text)


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
