"""The facts a decision is made on, as Cedar entities and context (pure functions).

The principal is the run's ``Agent`` (its tenant, acting user and declared scopes); the
resource a ``Tool`` (name, tier, scope, version) or a ``Model`` (provider, region); the
context the declared risk fields of the arguments, the data and origin labels and what is
left of the run's budget. Entity JSON is built once per agent, tool and model and cached by
the caller; only the context changes per call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tether.tools.contract import RISK_FIELDS, ToolContract

DEFAULT_TENANT = "default"
LOCAL_LABELS = ("pii", "secret")  # a local model may see anything: nothing leaves the machine
TOOL_FAMILY = ("invoke", "invoke_unattended")
MODEL_FAMILY = ("call_model", "call_model_unattended")


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who acts: the agent, for a tenant, on behalf of a user (optional)."""

    agent: str
    agent_version: str = ""
    tenant: str = DEFAULT_TENANT
    user: str | None = None
    scopes: tuple[str, ...] | None = None  # None: the agent declares no scopes

    @property
    def uid(self) -> str:
        return f"Agent::{json.dumps(self.agent)}"


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    """What policy knows about a model."""

    model_id: str
    provider: str
    region: str | None = None
    local: bool = False
    approved_labels: tuple[str, ...] = ()

    @property
    def uid(self) -> str:
        return f"Model::{json.dumps(self.model_id)}"


def uid(kind: str, ident: str) -> dict[str, str]:
    return {"type": kind, "id": ident}


def tool_uid(name: str) -> str:
    return f"Tool::{json.dumps(name)}"


def principal_entities(p: Principal) -> list[dict[str, Any]]:
    """The Agent entity (and its User, which the caller adds only when not already known)."""
    tenant = uid("Tenant", p.tenant)
    attrs: dict[str, Any] = {
        "name": p.agent,
        "version": p.agent_version,
        "tenant": {"__entity": tenant},
    }
    if p.user is not None:
        attrs["user"] = {"__entity": uid("User", p.user)}
    if p.scopes is not None:
        attrs["scopes"] = sorted(p.scopes)
    return [{"uid": uid("Agent", p.agent), "attrs": attrs, "parents": [tenant]}]


def stub_entities(p: Principal, known: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """Attribute-less Tenant and User entities for those the entities file does not name."""
    have = set(known)
    out: list[dict[str, Any]] = []
    if ("Tenant", p.tenant) not in have:
        out.append({"uid": uid("Tenant", p.tenant), "attrs": {}, "parents": []})
    if p.user is not None and ("User", p.user) not in have:
        parents = [uid("Tenant", p.tenant)]
        out.append({"uid": uid("User", p.user), "attrs": {}, "parents": parents})
    return out


def tool_entity(contract: ToolContract, approved: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "name": contract.name,
        "tier": contract.side_effect,
        "version": contract.version,
        "idempotent": contract.idempotent,
        "sink": contract.is_sink,
        "approved_labels": sorted(approved.get(contract.name, ())),
    }
    if contract.auth_scope:
        attrs["scope"] = contract.auth_scope
    return {"uid": uid("Tool", contract.name), "attrs": attrs, "parents": []}


def model_facts(
    model_id: str, regions: Mapping[str, str], approved: Mapping[str, Sequence[str]]
) -> ModelFacts:
    """Provider, region and approved labels of ``model_id`` (settings may name the region and
    approvals by model id or by provider)."""
    provider = model_id.partition(":")[0]  # "local:smollm2" -> "local"; "scripted" -> itself
    local = provider == "local"
    region = regions.get(model_id) or regions.get(provider) or ("local" if local else None)
    labels = {*approved.get(model_id, ()), *approved.get(provider, ())}
    if local:
        labels.update(LOCAL_LABELS)
    return ModelFacts(
        model_id=model_id,
        provider=provider,
        region=region,
        local=local,
        approved_labels=tuple(sorted(labels)),
    )


def model_entity(m: ModelFacts) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "name": m.model_id,
        "provider": m.provider,
        "local": m.local,
        "approved_labels": list(m.approved_labels),
    }
    if m.region is not None:
        attrs["region"] = m.region
    return {"uid": uid("Model", m.model_id), "attrs": attrs, "parents": []}


def risk_context(contract: ToolContract, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The declared risk fields of a call's arguments (``amount`` rounded up to a Long).

    A contract maps context fields to argument names in ``risk_fields``; without that, an
    argument named like a risk field (``amount``, ``quantity``, ``recipient``) is one. A value
    of the wrong type is left out, so a policy that needs it (``context has amount``) does
    not apply.
    """
    mapping = contract.risk_fields or {f: f for f in RISK_FIELDS if f in arguments}
    out: dict[str, Any] = {}
    for field, arg in mapping.items():
        value = _risk_value(RISK_FIELDS[field], arguments.get(arg))
        if value is not None:
            out[field] = value
    return out


def _risk_value(kind: str, value: Any) -> int | str | None:
    if kind == "String":
        return value if isinstance(value, str) else None
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return _clamp(math.ceil(number))


def _clamp(n: int) -> int:
    limit = 2**63 - 1  # Cedar's Long
    return max(-limit, min(limit, n))


def budget_context(tokens_left: int, tool_calls_left: int | None = None) -> dict[str, int]:
    out = {"tokens_left": _clamp(max(0, tokens_left))}
    if tool_calls_left is not None:
        out["tool_calls_left"] = _clamp(max(0, tool_calls_left))
    return out
