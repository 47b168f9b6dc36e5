"""``/v1/memory``: add items to the tenant's semantic memory, search it (hybrid by default), list
and read items with their provenance, forget a subject.

Scopes: ``memory:read`` (list, read, search), ``memory:write`` (add), ``memory:forget``
(forget a subject: their data key destroyed, their rows deleted). Every call is the key's
tenant's: an item of another tenant is 404, and a forget only touches the key's tenant.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from tether.memory.browse import get_item, list_items
from tether.memory.search import Filters, Mode, Trust
from tether.memory.store import MemoryItem
from tether.service.auth import ERRORS, ServiceDep, not_found, scope
from tether.service.keys import ApiKey

router = APIRouter(prefix="/v1/memory", tags=["memory"], responses=ERRORS)

Reader = Annotated[ApiKey, Depends(scope("memory:read"))]
Writer = Annotated[ApiKey, Depends(scope("memory:write"))]
Forgetter = Annotated[ApiKey, Depends(scope("memory:forget"))]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000, pattern=r"\S", description="what to keep")
    source: str = Field(default="api", max_length=1000, description="where it came from")
    scope: Name = "default"
    subject: Name | None = Field(default=None, description="the person the item is about")
    trust: Trust = Field(
        default="user", description="user; tool or retrieval: data, never instructions"
    )
    ttl_s: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)


class ItemsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(min_length=1, max_length=100)


class ItemsAdded(BaseModel):
    ids: list[str]


class ForgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Name
    vacuum: bool = Field(
        default=True, description="SQLite: rebuild the file so no stale copy survives"
    )


@router.post("/items", status_code=201, response_model=ItemsAdded)
def add_items(body: ItemsIn, svc: ServiceDep, key: Writer) -> ItemsAdded:
    """Remember items (embedded and indexed; PII sealed with the subject's key); the same item
    written twice is stored once."""
    items = [
        MemoryItem(
            text=i.text,
            source=i.source,
            scope=i.scope,
            subject=i.subject,
            trust=i.trust,
            ttl_s=i.ttl_s,
            end=len(i.text),
        )
        for i in body.items
    ]
    return ItemsAdded(ids=svc.memory().add(key.tenant, items))


@router.get("/items")
def get_items(
    svc: ServiceDep,
    key: Reader,
    scope: str | None = Query(default=None, max_length=200),
    subject: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=50, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """The tenant's newest items, with provenance (source, trust, scope, subject, tier)."""
    rt = svc.runtime
    found = list_items(
        rt.store.engine, rt.sealer, key.tenant, scope=scope, subject=subject, limit=limit
    )
    return [i.to_json() for i in found]


@router.get("/items/{item_id}")
def get_one(item_id: str, svc: ServiceDep, key: Reader) -> dict[str, Any]:
    """One item of the tenant."""
    rt = svc.runtime
    try:
        return get_item(rt.store.engine, rt.sealer, key.tenant, item_id).to_json()
    except KeyError:
        raise not_found("memory item", item_id) from None


@router.get("/search")
def search(
    svc: ServiceDep,
    key: Reader,
    q: str = Query(min_length=1, max_length=2000, description="what to look for"),
    k: int = Query(default=5, ge=1, le=100),
    mode: Mode = "hybrid",
    scope: str | None = Query(default=None, max_length=200),
    subject: str | None = Query(default=None, max_length=200),
    trust: Annotated[list[Trust] | None, Query(description="only these origins")] = None,
) -> list[dict[str, Any]]:
    """The tenant's best ``k`` items for ``q``: vectors and full text fused by reciprocal rank
    (``hybrid``), or one of them. Results are data (origin ``retrieval``)."""
    filters = Filters(scope=scope, subject=subject, trust=frozenset(trust) if trust else None)
    hits = svc.memory().search(key.tenant, q, k=k, mode=mode, filters=filters)
    return [h.to_json() | {"tier": "semantic"} for h in hits]


@router.post("/forget")
def forget(body: ForgetIn, svc: ServiceDep, key: Forgetter) -> dict[str, Any]:
    """Forget a subject of the tenant: destroy their data key (what was sealed with it, in
    memory, journals and caches, stays unreadable) and delete their rows; the forget log
    keeps a keyed hash, the counts and the time."""
    from tether.privacy.forget import forget_subject

    rt = svc.runtime
    report = forget_subject(
        rt.store.engine,
        rt.sealer.keyring.master,
        key.tenant,
        body.subject,
        by=f"api:{key.name or key.id}",
        vacuum=body.vacuum,
    )
    return report.to_json()
