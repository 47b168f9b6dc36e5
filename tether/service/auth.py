"""Who calls: the API key behind ``Authorization: Bearer tk_...``, and the scope a route needs.

A missing or unknown key is 401; a key without the route's scope is 403; an object of another
tenant is 404, exactly like one that does not exist, so a key cannot probe other tenants' ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from tether.service.keys import SCOPES, ApiKey
from tether.service.state import Service, service

_bearer = HTTPBearer(auto_error=False, description="an API key: `tether keys create`")


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's live key (401 otherwise)."""
    if credentials is None:
        raise HTTPException(
            401,
            "no API key: send `Authorization: Bearer tk_...` (create one with `tether keys "
            "create --tenant T --scope runs:read`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = service(request).keys.verify(credentials.credentials)
    if key is None:
        raise HTTPException(
            401, "the API key is not valid or was revoked", headers={"WWW-Authenticate": "Bearer"}
        )
    return key


def scope(name: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller's key, which must hold ``name`` (or ``admin``)."""
    assert name in SCOPES, name

    async def check(key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
        if not key.allows(name):
            raise HTTPException(
                403, f"this API key lacks the scope {name!r}; create a key that has it"
            )
        return key

    return check


def not_found(kind: str, ref: str) -> HTTPException:
    return HTTPException(404, f"no {kind} {ref!r}")


async def _service(request: Request) -> Service:
    return service(request)  # on the event loop: no thread-pool hop for an attribute read


ServiceDep = Annotated[Service, Depends(_service)]


class Problem(BaseModel):
    detail: str


# the error answers every authenticated route may give, documented in the OpenAPI document
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no API key, or not a valid one"},
    403: {"model": Problem, "description": "the API key lacks the route's scope"},
    404: {"model": Problem, "description": "no such object in the key's tenant"},
    409: {"model": Problem, "description": "the object's state does not allow it"},
}
