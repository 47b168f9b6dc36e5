"""A project's policies, tenants and tools for the governance tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tether.governance import Principal
from tether.governance.gate import PolicyGate
from tether.governance.loader import PolicySource
from tether.redact import Redactor
from tether.testing import FakeClock
from tether.tools.contract import ToolContract

PROJECT_POLICIES = """
@id("acme.crm_is_acme_only")
@reason("the CRM tool belongs to tenant acme")
forbid (
  principal,
  action in [Action::"invoke", Action::"invoke_unattended"],
  resource == Tool::"acme_crm"
)
unless { principal in Tenant::"acme" };

@id("payments.need_amount")
@reason("a payment without an amount is refused")
forbid (
  principal, action in [Action::"invoke", Action::"invoke_unattended"], resource == Tool::"pay"
)
unless { context has amount };

@id("payments.over_100_need_a_person")
@reason("payments over 100 need a person")
forbid (principal, action == Action::"invoke_unattended", resource == Tool::"pay")
unless { context has amount && context.amount <= 100 };

@id("payments.cap")
@reason("payments over 10000 are refused")
forbid (
  principal, action in [Action::"invoke", Action::"invoke_unattended"], resource == Tool::"pay"
)
when { context has amount && context.amount > 10000 };

@id("hr.needs_a_user")
@reason("HR lookups act for a named user")
forbid (
  principal,
  action in [Action::"invoke", Action::"invoke_unattended"],
  resource == Tool::"hr_lookup"
)
unless { principal has user };

@id("email.untrusted_needs_a_person")
@reason("email after untrusted content needs a person")
forbid (principal, action == Action::"invoke_unattended", resource == Tool::"send_email")
when { context.origin_labels.contains("untrusted") };

@id("budget.low_tokens_block_writes")
@reason("too few tokens left for a write")
forbid (principal, action == Action::"invoke_unattended", resource is Tool)
when { resource.tier == "write" && context.tokens_left < 100 };
"""

ENTITIES: list[dict[str, Any]] = [
    {
        "uid": {"type": "Tenant", "id": "acme"},
        "attrs": {"allowed_providers": ["local", "openai"]},
        "parents": [],
    },
    {
        "uid": {"type": "Tenant", "id": "eu_bank"},
        "attrs": {"regions": ["eu", "local"]},
        "parents": [],
    },
    {
        "uid": {"type": "Tenant", "id": "globex"},
        "attrs": {"allowed_models": ["local:smollm2", "openai:gpt-4o-mini"]},
        "parents": [],
    },
    {
        "uid": {"type": "User", "id": "alice"},
        "attrs": {},
        "parents": [{"type": "Tenant", "id": "acme"}],
    },
]
REGIONS = {"openai:gpt-eu": "eu", "anthropic": "us"}
APPROVED = {"openai:gpt-pii-ok": ["pii"], "crm_update": ["pii"]}


def write_project(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.cedar").write_text(PROJECT_POLICIES + extra)
    (folder / "entities.json").write_text(json.dumps(ENTITIES))
    return folder


def contract(name: str, tier: str = "read", **kwargs: Any) -> ToolContract:
    props = {
        a: {"type": "number" if a in ("amount", "total") else "string"}
        for a in kwargs.pop("args", ())
    }
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    return ToolContract(
        name=name, description=name, input_schema=schema, side_effect=tier, **kwargs
    )  # type: ignore[arg-type]


TOOLS = {
    "search": contract("search", args=("q",)),
    "acme_crm": contract("acme_crm", args=("q",)),
    "crm_update": contract("crm_update", "write", auth_scope="crm.write", args=("note",)),
    "pay": contract("pay", "write", args=("amount", "to")),
    "refund": contract("refund", "write", risk_fields={"amount": "total"}, args=("total",)),
    "send_email": contract("send_email", "write", args=("to", "body")),
    "delete_account": contract("delete_account", "high_risk", args=("id",)),
    "hr_lookup": contract("hr_lookup", args=("name",)),
}


def gate(folder: Path, clock: FakeClock | None = None, **principal: Any) -> PolicyGate:
    source = PolicySource(folder=folder, clock=clock or FakeClock(), reload_ms=0)
    fields = {"agent": "support", "tenant": "acme"} | principal
    return PolicyGate(
        source=source,
        principal=Principal(**fields),
        regions=REGIONS,
        approved=APPROVED,
        detector=Redactor(),
    )
