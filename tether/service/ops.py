"""``/v1/approvals``, ``/v1/kill``, health and readiness."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from tether.agent.spec import NAME_PATTERN
from tether.errors import UsageError
from tether.governance import operator
from tether.observability import kpis
from tether.service.auth import ERRORS, Problem, ServiceDep, not_found, scope
from tether.service.keys import ApiKey
from tether.store import ApprovalRecord, current_version
from tether.store.migrations import MIGRATIONS

approvals_router = APIRouter(prefix="/v1/approvals", tags=["approvals"], responses=ERRORS)
ops_router = APIRouter(tags=["operations"])

Viewer = Annotated[ApiKey, Depends(scope("approvals:read"))]
Decider = Annotated[ApiKey, Depends(scope("approvals:decide"))]
Killer = Annotated[ApiKey, Depends(scope("kill"))]


class Approve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve"]
    reason: str | None = Field(default=None, max_length=2000)
    edit: dict[str, Any] | None = Field(
        default=None, description="approve with these arguments instead (the tool's schema)"
    )
    by: str | None = Field(
        default=None, max_length=200, description="who decides (default: the API key's name)"
    )


class Deny(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["deny"]
    reason: str = Field(
        min_length=1, max_length=2000, pattern=r"\S", description="why (the agent is told it)"
    )
    by: str | None = Field(
        default=None, max_length=200, description="who decides (default: the API key's name)"
    )


Decision = Annotated[Approve | Deny, Field(discriminator="decision")]


class _Switch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lift: bool = Field(default=False, description="lift the switch instead of setting it")
    reason: str = Field(default="", max_length=2000)
    all_tenants: bool = Field(
        default=False,
        description="every tenant's runs (a key with `admin`); default: the key's tenant only",
    )


class KillAll(_Switch):
    scope: Literal["global"]


class KillAgent(_Switch):
    scope: Literal["agent"]
    agent: str = Field(pattern=NAME_PATTERN, description="this agent's runs")


class KillTool(_Switch):
    scope: Literal["tool"]
    tool: str = Field(min_length=1, max_length=200, description="this tool's calls")


Kill = Annotated[KillAll | KillAgent | KillTool, Field(discriminator="scope")]


def _owned(svc: ServiceDep, key: ApiKey, approval_id: str) -> ApprovalRecord:
    try:
        record = svc.approvals.get(approval_id)
    except UsageError:
        raise not_found("approval", approval_id) from None
    if record.id != approval_id or record.tenant != key.tenant:  # no prefixes over HTTP
        raise not_found("approval", approval_id)
    return record


@approvals_router.get("")
def list_approvals(
    svc: ServiceDep, key: Viewer, status: Literal["open", "all"] = "open"
) -> list[dict[str, Any]]:
    """The tenant's approvals, oldest first (default: the open ones)."""
    if status == "all":
        records = svc.approvals.list(status=None, tenant=key.tenant)
    else:
        records = svc.approvals.list(tenant=key.tenant)
    return [r.to_json() for r in records]


@approvals_router.get("/{approval_id}")
def get_approval(approval_id: str, svc: ServiceDep, key: Viewer) -> dict[str, Any]:
    """One approval: the call, the diff of what it changes, the reasoning and evidence."""
    return _owned(svc, key, approval_id).to_json()


@approvals_router.post("/{approval_id}")
def decide(approval_id: str, body: Decision, svc: ServiceDep, key: Decider) -> dict[str, Any]:
    """Approve (optionally with edited arguments) or deny with a reason; once decided, the run
    is queued to go on."""
    record = _owned(svc, key, approval_id)
    by = body.by or f"api:{key.name or key.id}"
    if isinstance(body, Approve):
        decided = svc.approvals.approve(record.id, by, edit=body.edit, reason=body.reason)
    else:
        decided = svc.approvals.deny(record.id, by, body.reason)
    return decided.to_json()


@ops_router.post("/v1/kill", responses=ERRORS)
def kill(body: Kill, svc: ServiceDep, key: Killer) -> dict[str, Any]:
    """Set (or lift) a kill switch: global, per agent or per tool, over the key's tenant's
    runs (``all_tenants``: every tenant's, with ``admin``); effective before the next step of
    every run it concerns."""
    if body.all_tenants and not key.allows("admin"):
        raise HTTPException(
            403, "field 'all_tenants': a switch over every tenant needs a key with 'admin'"
        )
    tenant = "" if body.all_tenants else key.tenant
    agent = body.agent if isinstance(body, KillAgent) else None
    switch_scope, target = operator.scope_of(
        agent, body.tool if isinstance(body, KillTool) else None
    )
    by = f"api:{key.name or key.id}"
    if body.lift:
        lifted = operator.lift(svc.runtime, switch_scope, target, tenant=tenant)
        return {"lifted": len(lifted), "scope": switch_scope, "target": target, "tenant": tenant}
    done = operator.kill(svc.runtime, switch_scope, target, body.reason, by=by, tenant=tenant)
    s = done.switch
    return {
        "id": s.id,
        "scope": s.scope,
        "target": s.target,
        "tenant": s.tenant,
        "created": done.created,
        "runs": list(done.runs),
    }


Reader = Annotated[ApiKey, Depends(scope("runs:read"))]


@ops_router.get("/v1/kpis", responses=ERRORS)
def get_kpis(
    svc: ServiceDep, key: Reader, limit: int = Query(default=1000, ge=1, le=100_000)
) -> dict[str, Any]:
    """The tenant's KPIs over its newest ``limit`` runs (DESIGN §2.9)."""
    return kpis.kpis(*kpis.gather(svc.runtime.store, tenant=key.tenant, limit=limit)).to_json()


@ops_router.get("/v1/costs", responses=ERRORS)
def get_costs(
    svc: ServiceDep, key: Reader, limit: int = Query(default=1000, ge=1, le=100_000)
) -> dict[str, Any]:
    """The tenant's spend by agent, model and tool over its newest ``limit`` runs."""
    return kpis.costs(*kpis.gather(svc.runtime.store, tenant=key.tenant, limit=limit)).to_json()


@ops_router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@ops_router.get("/readyz", responses={503: {"model": Problem, "description": "not ready"}})
def readyz(svc: ServiceDep) -> dict[str, Any]:
    """The database answers and its schema is current (503 otherwise)."""
    engine = svc.runtime.store.engine
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        version = current_version(engine)
    except Exception as exc:
        raise HTTPException(503, f"database not ready: {type(exc).__name__}") from None
    latest = MIGRATIONS[-1][0]
    if version < latest:
        raise HTTPException(503, f"schema at migration {version}, expected {latest}")
    return {"status": "ready", "schema": version}
