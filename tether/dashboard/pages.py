"""The dashboard: server-rendered pages over the same store and APIs, no CDN, no JavaScript.

A person logs in with an API key (kept in an HttpOnly, SameSite=Strict cookie) and sees their
tenant only: the runs list with filters, a run page (summary, a waterfall of model and tool
calls to scale, costs, the redacted journal), the approvals queue (arguments, the diff, the
agent's reason, evidence, policy) with approve / edit-and-approve / deny, and the global kill
switch (keys with ``admin``). Every form carries a token derived from the session's key, so
another site cannot post one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from tether.costs import cost_report
from tether.dashboard.waterfall import bars
from tether.errors import RunNotFound, UsageError
from tether.governance import operator
from tether.service.keys import ApiKey
from tether.service.state import Service, service
from tether.store.ratings import Thumbs
from tether.types import RunStatus

COOKIE = "tether_key"
router = APIRouter(include_in_schema=False)
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


class _Login(Exception):
    pass


def _csrf(token: str) -> str:
    return hashlib.sha256(b"tether-csrf:" + token.encode()).hexdigest()[:32]


def _session(request: Request) -> tuple[ApiKey, str]:
    token = request.cookies.get(COOKIE, "")
    key = service(request).keys.verify(token) if token else None
    if key is None:
        raise _Login()
    return key, token


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    svc = service(request)
    killed = any(s.scope == "global" and not s.tenant for s in svc.runtime.store.controls.active())
    html = _templates.get_template(name).render(killed=killed, **context)
    return HTMLResponse(html)


async def _form(request: Request, token: str) -> dict[str, str]:
    fields = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    if not hmac.compare_digest(fields.get("csrf", ""), _csrf(token)):
        raise HTTPException(403, "the form's token does not match this session; reload the page")
    return fields


def _guard(handler: Any) -> Any:
    """Send a request without a live session to the login page."""
    import functools

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            response: Response = await handler(request, *args, **kwargs)
            return response
        except _Login:
            return RedirectResponse("/login", status_code=303)

    return wrapper


@router.get("/login")
async def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    return _page(request, "login.html", title="log in", key=None, error=error)


@router.post("/login")
async def login(request: Request) -> Response:
    fields = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    token = fields.get("key", "").strip()
    if service(request).keys.verify(token) is None:
        return _page(request, "login.html", title="log in", key=None, error="that key is not valid")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=8 * 3600)
    return response


@router.post("/logout")
@_guard
async def logout(request: Request) -> Response:
    _, token = _session(request)
    await _form(request, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
@_guard
async def runs_page(request: Request, status: str = "", agent: str = "") -> Response:
    key, token = _session(request)
    svc: Service = service(request)
    chosen = RunStatus(status) if status in {s.value for s in RunStatus} else None
    runs = svc.runtime.store.runs.list(
        status=chosen, agent=agent or None, limit=200, tenant=key.tenant
    )
    return _page(
        request,
        "runs.html",
        title="runs",
        key=key,
        csrf=_csrf(token),
        runs=runs,
        statuses=[s.value for s in RunStatus],
        status=status,
        agent=agent,
    )


@router.get("/runs/{run_id}")
@_guard
async def run_page(request: Request, run_id: str) -> Response:
    key, token = _session(request)
    store = service(request).runtime.store
    try:
        run = store.runs.get(run_id)
    except RunNotFound:
        run = None
    if run is None or run.tenant != key.tenant:
        raise HTTPException(404, f"no run {run_id!r}")
    events = store.journal.read(run.id)
    total_ms, timeline = bars(events)
    shown = [
        {
            "seq": e.seq,
            "key": e.key,
            "kind": e.kind,
            "body": json.dumps(
                e.payload.model_dump(mode="json", exclude={"kind"}),
                ensure_ascii=False,
                indent=1,
                default=str,
            )[:4000],
        }
        for e in events
    ]
    costs = json.dumps(cost_report(events).to_json(), indent=1)
    return _page(
        request,
        "run.html",
        title=run.id,
        key=key,
        csrf=_csrf(token),
        run=run,
        bars=timeline,
        total_ms=total_ms,
        events=shown,
        costs=costs,
        ratings=store.ratings.of_run(run.id),
    )


@router.post("/runs/{run_id}/rate")
@_guard
async def rate(request: Request, run_id: str) -> Response:
    key, token = _session(request)
    fields = await _form(request, token)
    store = service(request).runtime.store
    try:
        run = store.runs.get(run_id)
    except RunNotFound:
        run = None
    if run is None or run.tenant != key.tenant:
        raise HTTPException(404, f"no run {run_id!r}")
    thumbs: Thumbs | None = "up" if fields.get("thumbs") == "up" else None
    thumbs = "down" if fields.get("thumbs") == "down" else thumbs
    tags = [t.strip() for t in fields.get("tags", "").split(",") if t.strip()]
    try:
        store.ratings.add(
            run.id,
            by=f"dashboard:{key.name or key.id}",
            tenant=key.tenant,
            thumbs=thumbs,
            tags=tags,
            correction=fields.get("correction") or None,
        )
    except UsageError:
        pass  # an empty form: nothing to keep
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.get("/approvals")
@_guard
async def approvals_page(request: Request, message: str = "") -> Response:
    key, token = _session(request)
    pending = service(request).approvals.list(tenant=key.tenant)
    return _page(
        request,
        "approvals.html",
        title="approvals",
        key=key,
        csrf=_csrf(token),
        approvals=pending,
        message=message,
    )


@router.post("/approvals/{approval_id}")
@_guard
async def decide(request: Request, approval_id: str) -> Response:
    key, token = _session(request)
    fields = await _form(request, token)
    if not key.allows("approvals:decide"):
        raise HTTPException(403, "this key lacks the scope 'approvals:decide'")
    svc = service(request)
    try:
        record = svc.approvals.get(approval_id)
        if record.id != approval_id or record.tenant != key.tenant:
            raise HTTPException(404, f"no approval {approval_id!r}")
        by = f"dashboard:{key.name or key.id}"
        decision = fields.get("decision")
        if decision == "deny":
            svc.approvals.deny(record.id, by, fields.get("reason") or "denied in the dashboard")
        elif decision == "edit":
            edit = json.loads(fields.get("edit") or "{}")
            svc.approvals.approve(record.id, by, edit=edit, reason=fields.get("reason") or None)
        else:
            svc.approvals.approve(record.id, by, reason=fields.get("reason") or None)
        message = f"{record.subject}: {decision or 'approve'}d"
    except (UsageError, ValueError) as exc:
        message = f"not decided: {exc}"
    return RedirectResponse(f"/approvals?message={message}", status_code=303)


@router.post("/kill")
@_guard
async def kill(request: Request) -> Response:
    key, token = _session(request)
    fields = await _form(request, token)
    if not key.allows("admin"):
        raise HTTPException(403, "the kill switch needs a key with the scope 'admin'")
    svc = service(request)
    if fields.get("action") == "lift":
        operator.lift(svc.runtime, "global", "")
    else:
        operator.kill(svc.runtime, "global", "", "set in the dashboard", by=f"dashboard:{key.id}")
    return RedirectResponse("/", status_code=303)
