"""``POST /v1/triggers/{name}``: a signed webhook starts a run (see ``triggers``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from tether.errors import CapabilityDisabled
from tether.flags.apply import load_flags, refuse_trigger
from tether.service import triggers
from tether.service.auth import Problem, ServiceDep

router = APIRouter(tags=["triggers"])
_ANSWERS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": what}
    for code, what in [
        (401, "unsigned, badly signed, or too old"),
        (403, "the trigger is switched off by a feature flag: nothing started"),
        (404, "no such trigger"),
        (409, "delivered before: nothing started"),
        (422, "the body is not JSON, or lacks a field the templates use"),
    ]
}


class Fired(BaseModel):
    run_id: str
    status: str
    trigger: str


@router.post("/v1/triggers/{name}", status_code=202, response_model=Fired, responses=_ANSWERS)
async def fire(name: str, request: Request, svc: ServiceDep) -> Fired:
    """Start the trigger's run from the request's JSON body (HMAC-SHA256 signed)."""
    body = await request.body()  # the raw bytes: the signature covers exactly these
    trigger = svc.triggers().get(name)
    if trigger is None:
        raise HTTPException(404, f"no trigger {name!r}")
    secret = svc.runtime.secrets.get(trigger.secret)
    if not secret:
        raise HTTPException(401, f"trigger {name!r} has no secret configured; nothing started")
    try:
        triggers.verify(
            secret, request.headers, body, now=triggers.utcnow(), max_age_s=trigger.max_age_s
        )
        try:
            payload = json.loads(body)
        except ValueError:
            raise triggers.Rejected(422, "the body is not JSON") from None
        goal = triggers.render(trigger.goal, payload)
        key = triggers.delivery_key(trigger, payload, request.headers, body)
    except triggers.Rejected as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return await _start(svc, trigger, goal, key)


async def _start(svc: ServiceDep, trigger: triggers.Trigger, goal: str, key: str) -> Fired:
    import asyncio

    engine = svc.runtime.store.engine
    flags = await asyncio.to_thread(load_flags, svc.runtime.store, trigger.tenant, None)
    try:
        refuse_trigger(flags, trigger.tenant, {"trigger": trigger.name})
    except CapabilityDisabled as exc:
        raise HTTPException(403, str(exc)) from None
    earlier = await asyncio.to_thread(triggers.claim, engine, trigger.name, key, triggers.utcnow())
    if earlier is not None:
        raise HTTPException(409, f"delivered before (run {earlier or 'starting'}); nothing started")
    run_id = None
    try:
        agent = svc.agent(trigger.agent)
        origin = {"trigger": trigger.name, "delivery": key}
        run_id = await asyncio.to_thread(
            svc.submit, agent, goal, tenant=trigger.tenant, model=None, origin=origin
        )
    finally:
        await asyncio.to_thread(triggers.settle, engine, trigger.name, key, run_id)
    return Fired(run_id=run_id, status="queued", trigger=trigger.name)
