"""The decision table: (principal, tool or model, context) -> allow | deny | require_approval.

Every case goes through the real packs plus a project's policies and entities file, and is
decided twice: on the sliced policy set (what runs use) and on the full one. Requests that
lack an attribute a policy needs must never come out allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.governance.fixtures import TOOLS, gate, write_project
from tether.governance import TOOL_FAMILY, Decision
from tether.governance.engine import Resource
from tether.governance.facts import tool_entity
from tether.governance.gate import PolicyGate
from tether.types import ToolResultMessage, UserMessage

USER = [UserMessage(content="goal")]
TAINTED = [*USER, ToolResultMessage(tool_call_id="c0", name="search", content='{"x": 1}')]


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # allow | deny | require_approval
    reason: str  # a policy id that must be among the reasons
    tool: str | None = None
    model: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    prompt: str = "hello"
    principal: dict[str, Any] = field(default_factory=dict)
    history: tuple[Any, ...] = tuple(USER)
    tokens_left: int = 10_000


CASES = [
    # the ladder
    Case("read tool runs", "allow", "ladder.read", tool="search", args={"q": "x"}),
    Case(
        "write tool runs", "allow", "ladder.write", tool="send_email", args={"to": "x", "body": "y"}
    ),
    Case(
        "high risk waits",
        "require_approval",
        "ladder.high_risk_needs_person",
        tool="delete_account",
        args={"id": "1"},
    ),
    Case(
        "high risk waits for any tenant",
        "require_approval",
        "ladder.high_risk_needs_person",
        tool="delete_account",
        principal={"tenant": "globex"},
    ),
    # tenants
    Case("acme tool for acme", "allow", "ladder.read", tool="acme_crm", args={"q": "x"}),
    Case(
        "acme tool for globex: wrong tenant",
        "deny",
        "acme.crm_is_acme_only",
        tool="acme_crm",
        principal={"tenant": "globex"},
    ),
    Case(
        "acme tool for unknown tenant",
        "deny",
        "acme.crm_is_acme_only",
        tool="acme_crm",
        principal={"tenant": "nobody"},
    ),
    # scopes
    Case(
        "scope held",
        "allow",
        "ladder.write",
        tool="crm_update",
        args={"note": "n"},
        principal={"scopes": ("crm.write",)},
    ),
    Case(
        "wrong scope",
        "deny",
        "scopes.agent_lacks_tool_scope",
        tool="crm_update",
        args={"note": "n"},
        principal={"scopes": ("crm.read",)},
    ),
    Case(
        "no scopes at all",
        "deny",
        "scopes.agent_lacks_tool_scope",
        tool="crm_update",
        args={"note": "n"},
        principal={"scopes": ()},
    ),
    Case(
        "agent without declared scopes",
        "allow",
        "ladder.write",
        tool="crm_update",
        args={"note": "n"},
    ),
    # amounts
    Case("small payment", "allow", "ladder.write", tool="pay", args={"amount": 40, "to": "bob"}),
    Case(
        "payment at the threshold",
        "allow",
        "ladder.write",
        tool="pay",
        args={"amount": 100, "to": "bob"},
    ),
    Case(
        "payment just over (rounded up)",
        "require_approval",
        "payments.over_100_need_a_person",
        tool="pay",
        args={"amount": 100.01, "to": "bob"},
    ),
    Case(
        "large payment",
        "require_approval",
        "payments.over_100_need_a_person",
        tool="pay",
        args={"amount": 5000, "to": "bob"},
    ),
    Case(
        "payment over the cap",
        "deny",
        "payments.cap",
        tool="pay",
        args={"amount": 20000, "to": "bob"},
    ),
    Case("declared risk field", "allow", "ladder.write", tool="refund", args={"total": 99}),
    Case(
        "amount as text", "allow", "ladder.write", tool="pay", args={"amount": "12.50", "to": "bob"}
    ),
    # missing attributes: never allowed
    Case("payment without amount", "deny", "payments.need_amount", tool="pay", args={"to": "bob"}),
    Case(
        "payment with a non-number amount",
        "deny",
        "payments.need_amount",
        tool="pay",
        args={"amount": "lots", "to": "bob"},
    ),
    Case(
        "payment with a boolean amount",
        "deny",
        "payments.need_amount",
        tool="pay",
        args={"amount": True, "to": "bob"},
    ),
    Case(
        "hr lookup without a user", "deny", "hr.needs_a_user", tool="hr_lookup", args={"name": "x"}
    ),
    Case(
        "hr lookup for a user",
        "allow",
        "ladder.read",
        tool="hr_lookup",
        args={"name": "x"},
        principal={"user": "alice"},
    ),
    Case(
        "eu tenant, model without region",
        "deny",
        "residency.region_not_allowed",
        model="openai:gpt-4o",
        principal={"tenant": "eu_bank"},
    ),
    # origins and data labels on tools
    Case(
        "email in a clean context",
        "allow",
        "ladder.write",
        tool="send_email",
        args={"to": "x", "body": "hi"},
    ),
    Case(
        "email after tool output",
        "require_approval",
        "email.untrusted_needs_a_person",
        tool="send_email",
        args={"to": "x", "body": "hi"},
        history=tuple(TAINTED),
    ),
    Case(
        "read after tool output",
        "allow",
        "ladder.read",
        tool="search",
        args={"q": "x"},
        history=tuple(TAINTED),
    ),
    Case(
        "pii to an unapproved sink",
        "require_approval",
        "classification.pii_to_unapproved_sink",
        tool="send_email",
        args={"to": "jane.doe@example.com", "body": "hi"},
    ),
    Case(
        "pii to an approved sink",
        "allow",
        "ladder.write",
        tool="crm_update",
        args={"note": "call jane.doe@example.com"},
    ),
    Case(
        "secret to a sink",
        "require_approval",
        "classification.secret_to_unapproved_sink",
        tool="send_email",
        args={"to": "x", "body": "key sk-live-4c0ffee4c0ffee4c0ffee4c0ffee4c0f"},
    ),
    Case(
        "masked pii is not pii",
        "allow",
        "ladder.write",
        tool="send_email",
        args={"to": "[REDACTED:email]", "body": "hi"},
    ),
    Case(
        "low budget blocks writes",
        "require_approval",
        "budget.low_tokens_block_writes",
        tool="send_email",
        args={"to": "x", "body": "y"},
        tokens_left=50,
    ),
    # models: providers, models, regions, classification
    Case("local model", "allow", "models.allowed", model="local:smollm2"),
    Case("allowed provider", "allow", "models.allowed", model="openai:gpt-4o"),
    Case(
        "provider outside the tenant's set",
        "deny",
        "models.provider_not_allowed",
        model="anthropic:claude-sonnet",
    ),
    Case(
        "model outside the tenant's set",
        "deny",
        "models.model_not_allowed",
        model="openai:gpt-4o",
        principal={"tenant": "globex"},
    ),
    Case(
        "model inside the tenant's set",
        "allow",
        "models.allowed",
        model="openai:gpt-4o-mini",
        principal={"tenant": "globex"},
    ),
    Case(
        "region pinned model",
        "allow",
        "models.allowed",
        model="openai:gpt-eu",
        principal={"tenant": "eu_bank"},
    ),
    Case(
        "region outside the pin",
        "deny",
        "residency.region_not_allowed",
        model="anthropic:claude-sonnet",
        principal={"tenant": "eu_bank"},
    ),
    Case(
        "local model for a pinned tenant",
        "allow",
        "models.allowed",
        model="local:smollm2",
        principal={"tenant": "eu_bank"},
    ),
    Case(
        "pii to an unapproved model",
        "deny",
        "classification.pii_to_unapproved_model",
        model="openai:gpt-4o",
        prompt="mail jane.doe@example.com",
    ),
    Case(
        "pii to an approved model",
        "allow",
        "models.allowed",
        model="openai:gpt-pii-ok",
        prompt="mail jane.doe@example.com",
    ),
    Case(
        "pii to a local model",
        "allow",
        "models.allowed",
        model="local:smollm2",
        prompt="mail jane.doe@example.com",
    ),
    Case(
        "secret to a hosted model",
        "deny",
        "classification.secret_to_unapproved_model",
        model="openai:gpt-pii-ok",
        prompt="key sk-live-4c0ffee4c0ffee4c0ffee4c0ffee4c0f",
    ),
    Case(
        "masked pii to a hosted model",
        "allow",
        "models.allowed",
        model="openai:gpt-4o",
        prompt="mail [REDACTED:email]",
    ),
]


def decide(case: Case, folder: Path) -> Decision:
    return decide_on(gate(folder, **case.principal), case)


def decide_on(g: PolicyGate, case: Case) -> Decision:
    """The case's decision by gate ``g`` (its tool call, or its model call)."""
    history = list(case.history)
    if case.tool is not None:
        verdict = g.decide_tool(
            TOOLS[case.tool], case.args, history, tokens_left=case.tokens_left, tool_calls_left=5
        )
    else:
        assert case.model is not None
        prompt = [*history[:-1], UserMessage(content=case.prompt)]
        verdict = g.decide_model(case.model, prompt, history, tokens_left=case.tokens_left)
    return verdict.decision


def test_the_table_has_enough_cases() -> None:
    assert len(CASES) >= 30
    assert {c.expected for c in CASES} == {"allow", "deny", "require_approval"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision(case: Case, tmp_path: Path) -> None:
    decision = decide(case, write_project(tmp_path / "policies"))
    assert decision.outcome == case.expected, decision
    assert case.reason in decision.reasons, decision
    assert not decision.errors, decision.errors  # every attribute test is guarded
    if decision.outcome != "allow":
        assert decision.messages  # a reason a person or model can read


def test_sliced_and_full_policy_sets_decide_alike(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    g = gate(folder)
    policies = g.source.current()
    for case in CASES:
        if case.tool is None:
            continue
        principal = g.principal.__class__(
            **({"agent": "support", "tenant": "acme"} | case.principal)
        )
        resource = Resource.of(tool_entity(TOOLS[case.tool], {}))
        context = g.decide_tool(
            TOOLS[case.tool],
            case.args,
            list(case.history),
            tokens_left=case.tokens_left,
            tool_calls_left=5,
        ).context
        sliced = policies.authorize(principal, resource, TOOL_FAMILY, context)
        full = policies.authorize(principal, resource, TOOL_FAMILY, context, sliced=False)
        assert sliced == full, case.name


def test_a_request_missing_a_context_attribute_is_denied(tmp_path: Path) -> None:
    g = gate(write_project(tmp_path / "policies"))
    policies = g.source.current()
    resource = Resource.of(tool_entity(TOOLS["search"], {}))
    decision = policies.authorize(g.principal, resource, TOOL_FAMILY, {"data_labels": []})
    assert decision.outcome == "deny"
    assert decision.errors and "origin_labels" in decision.errors[0]


def test_an_unknown_tier_is_denied(tmp_path: Path) -> None:
    g = gate(write_project(tmp_path / "policies"))
    policies = g.source.current()
    entity = tool_entity(TOOLS["search"], {})
    entity["attrs"]["tier"] = "mystery"
    context = {"data_labels": [], "origin_labels": ["user"], "tokens_left": 9, "tool_calls_left": 9}
    decision = policies.authorize(g.principal, Resource.of(entity), TOOL_FAMILY, context)
    assert decision.outcome == "deny" and decision.reasons == ("tether.default_deny",)


def test_risk_fields_must_name_a_known_field_and_an_argument() -> None:
    from tests.governance.fixtures import contract
    from tether.errors import ConfigError

    with pytest.raises(ConfigError, match="risk_fields names 'price'"):
        contract("shop", "write", risk_fields={"price": "total"}, args=("total",))
    with pytest.raises(ConfigError, match="maps 'amount' to 'sum', which is not an argument"):
        contract("shop", "write", risk_fields={"amount": "sum"}, args=("total",))
