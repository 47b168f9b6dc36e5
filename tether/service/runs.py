"""``/v1/runs``: create runs (queued for workers), read them, follow their journal, steer them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from tether.agent.memory.session import SESSION_ID
from tether.agent.spec import NAME_PATTERN
from tether.cli.render import record_json
from tether.costs import cost_report
from tether.errors import RunNotFound
from tether.service.auth import ERRORS, ServiceDep, not_found, scope
from tether.service.keys import ApiKey
from tether.service.state import Service
from tether.store import RunRecord
from tether.types import RunStatus

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=ERRORS)
POLL_S = 0.25  # how often a followed run's journal is read for new events


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, max_length=20_000, description="what the agent should do")
    agent: str = Field(
        default="assistant",
        pattern=NAME_PATTERN,
        description="an agent name: agents/NAME.yaml, or a packaged agent",
    )
    model: str | None = Field(
        default=None, min_length=1, max_length=200, description="a model id override"
    )
    session: str | None = Field(
        default=None,
        pattern=SESSION_ID.pattern,
        description="the run is the next turn of this conversation (working memory)",
    )
    subject: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the person the run is about: PII in its journal is sealed with their key "
        "(forget them at POST /v1/memory/forget)",
    )


class RunCreated(BaseModel):
    run_id: str
    status: str


Reader = Annotated[ApiKey, Depends(scope("runs:read"))]
Writer = Annotated[ApiKey, Depends(scope("runs:write"))]


def owned(svc: Service, key: ApiKey, run_id: str) -> RunRecord:
    """The run with exactly this id in the caller's tenant (404 otherwise)."""
    try:
        record = svc.runtime.store.runs.get(run_id)
    except RunNotFound:
        raise not_found("run", run_id) from None
    if record.tenant != key.tenant:
        raise not_found("run", run_id)
    return record


@router.post("", status_code=202, response_model=RunCreated)
async def create_run(body: RunCreate, svc: ServiceDep, key: Writer) -> RunCreated:
    """Create a run and queue it for a worker; follow it at ``/v1/runs/{id}/events``."""
    agent = await asyncio.to_thread(svc.agent, body.agent)
    run_id = await svc.submit_async(
        agent,
        body.goal,
        tenant=key.tenant,
        model=body.model,
        session=body.session,
        subject=body.subject,
        user_group=key.user_group,
    )
    return RunCreated(run_id=run_id, status="queued")


@router.get("")
def list_runs(
    svc: ServiceDep,
    key: Reader,
    status: RunStatus | None = None,
    agent: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """The tenant's runs, newest first."""
    records = svc.runtime.store.runs.list(
        status=status, agent=agent, limit=limit, tenant=key.tenant
    )
    return [record_json(r) for r in records]


@router.get("/{run_id}")
def get_run(run_id: str, svc: ServiceDep, key: Reader) -> dict[str, Any]:
    """A run, with its costs per model and tool."""
    record = owned(svc, key, run_id)
    events = svc.runtime.store.journal.read(record.id)
    return record_json(record) | {"costs": cost_report(events).to_json()}


@router.get("/{run_id}/events")
async def run_events(
    run_id: str,
    svc: ServiceDep,
    key: Reader,
    last_event_id: Annotated[str, Header(pattern=r"^[0-9]{1,18}$")] = "0",
    follow: bool = True,
) -> EventSourceResponse:
    """The run's journal as server-sent events (``id`` = the event's sequence number), from
    after ``Last-Event-ID``; with ``follow`` (default) the stream stays open until the run is
    over (final and not paused) and every event was sent; the last event, ``end``, says the
    status."""
    record = await asyncio.to_thread(owned, svc, key, run_id)
    return EventSourceResponse(_stream(svc, record.id, int(last_event_id), follow), ping=10)


async def _stream(
    svc: Service, run_id: str, after: int, follow: bool
) -> AsyncIterator[ServerSentEvent]:
    store = svc.runtime.store
    while True:
        status = await asyncio.to_thread(store.runs.status, run_id)
        events = await asyncio.to_thread(store.journal.read, run_id, after_seq=after)
        for e in events:
            after = e.seq
            yield ServerSentEvent(json.dumps(e.to_json(), default=str), event=e.kind, id=str(e.seq))
        if not follow or (_over(status) and not events):
            yield ServerSentEvent(json.dumps({"status": status.value}), event="end")
            return
        if not events:
            await asyncio.sleep(POLL_S)


def _over(status: RunStatus) -> bool:
    """Nothing more will be journaled: final, and not paused (a paused run goes on once an
    approval is decided or it is resumed)."""
    return status.is_final and status is not RunStatus.PAUSED


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thumbs: Literal["up", "down"] | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    correction: str | None = Field(
        default=None, max_length=20_000, description="what the answer should have been"
    )


@router.post("/{run_id}/ratings", status_code=201)
def rate(run_id: str, body: RatingIn, svc: ServiceDep, key: Reader) -> dict[str, Any]:
    """Rate a run (thumbs, tags, a correction); ratings can become eval cases."""
    record = owned(svc, key, run_id)
    rating = svc.runtime.store.ratings.add(
        record.id,
        by=f"api:{key.name or key.id}",
        tenant=key.tenant,
        thumbs=body.thumbs,
        tags=body.tags,
        correction=body.correction,
    )
    return rating.to_json()


@router.get("/{run_id}/ratings")
def ratings_of(run_id: str, svc: ServiceDep, key: Reader) -> list[dict[str, Any]]:
    """A run's ratings, oldest first."""
    return [r.to_json() for r in svc.runtime.store.ratings.of_run(owned(svc, key, run_id).id)]


@router.post("/{run_id}/cancel")
def cancel(run_id: str, svc: ServiceDep, key: Writer) -> dict[str, Any]:
    """Cancel a run: its executor stops it before its next step (409 if it is final)."""
    from tether.durable import cancel_run

    record = owned(svc, key, run_id)
    return record_json(asyncio.run(cancel_run(svc.runtime, record.id)))


@router.post("/{run_id}/resume")
def resume(run_id: str, svc: ServiceDep, key: Writer) -> dict[str, Any]:
    """Queue a paused run's next segment for a worker (409 if it is not paused, or waits for
    an approval: decide that at ``/v1/approvals/{id}``)."""
    from tether.durable import enqueue_resume

    record = owned(svc, key, run_id)
    return record_json(enqueue_resume(svc.runtime, record.id))
