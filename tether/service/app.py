"""The HTTP service (``tether serve``): FastAPI over the same runtime the CLI uses.

``create_app(service)`` mounts the routers; tether's errors become JSON responses that keep the
message (which names the field or object and the fix): an unknown run, agent or model is 404;
a usage error (a run already final, a run waiting for an approval) or another configuration
problem is 409; the database unreachable is 503. Malformed requests are FastAPI's 422.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tether import dashboard
from tether.errors import ConfigError, RunNotFound, StoreError, UnknownModelError, UsageError
from tether.service import metrics
from tether.service.memory import router as memory_router
from tether.service.ops import approvals_router, ops_router
from tether.service.runs import router as runs_router
from tether.service.state import Service, UnknownAgent
from tether.service.webhooks import router as webhooks_router


def create_app(svc: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            svc.stop()

    app = FastAPI(
        title="tether",
        summary="Run, follow, approve and stop tether agents over HTTP.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.service = svc
    app.include_router(runs_router)
    app.include_router(approvals_router)
    app.include_router(memory_router)
    app.include_router(ops_router)
    app.include_router(webhooks_router)
    app.include_router(dashboard.router)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus(request: Request) -> Response:
        """Prometheus metrics (runs by status, tokens, cost, approvals pending, queue; model
        and tool call latency histograms, tool breaker states)."""
        body = metrics.render(svc.runtime.store.engine, svc.calls)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    app.add_exception_handler(RunNotFound, _status(404))
    app.add_exception_handler(UnknownAgent, _status(404))
    app.add_exception_handler(UnknownModelError, _status(404))
    app.add_exception_handler(UsageError, _status(409))
    app.add_exception_handler(ConfigError, _status(409))
    app.add_exception_handler(StoreError, _status(503))
    return app


def _status(code: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handle


def _version() -> str:
    from tether.runtime import tether_version

    return tether_version()
