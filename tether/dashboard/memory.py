"""The dashboard's memory browser: the tenant's newest items or a hybrid search over them,
each with its provenance (source, trust, tier, scope, subject), and forget-a-subject for keys
with ``memory:forget``."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from tether.dashboard.pages import _csrf, _form, _guard, _page, _session, router
from tether.errors import UsageError
from tether.memory.browse import list_items
from tether.service.state import service


@router.get("/memory")
@_guard
async def memory_page(request: Request, q: str = "", message: str = "") -> Response:
    key, token = _session(request)
    if not key.allows("memory:read"):
        raise HTTPException(403, "the memory browser needs a key with the scope 'memory:read'")
    svc = service(request)
    rt = svc.runtime
    if q.strip():
        hits = svc.memory().search(key.tenant, q[:2000], k=20)
        items = [h.to_json() | {"tier": "semantic"} for h in hits]
    else:
        items = [i.to_json() for i in list_items(rt.store.engine, rt.sealer, key.tenant)]
    return _page(
        request,
        "memory.html",
        title="memory",
        key=key,
        csrf=_csrf(token),
        q=q,
        items=items,
        can_forget=key.allows("memory:forget"),
        message=message,
    )


@router.post("/memory/forget")
@_guard
async def forget(request: Request) -> Response:
    key, token = _session(request)
    fields = await _form(request, token)
    if not key.allows("memory:forget"):
        raise HTTPException(403, "forgetting a subject needs a key with the scope 'memory:forget'")
    from tether.privacy.forget import forget_subject

    rt = service(request).runtime
    try:
        report = forget_subject(
            rt.store.engine,
            rt.sealer.keyring.master,
            key.tenant,
            fields.get("subject", "").strip(),
            by=f"dashboard:{key.name or key.id}",
        )
        message = f"forgot the subject: {sum(report.counts.values())} rows deleted"
    except UsageError as exc:
        message = f"not forgotten: {exc}"
    return RedirectResponse(f"/memory?message={quote(message)}", status_code=303)
