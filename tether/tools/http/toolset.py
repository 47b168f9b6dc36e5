"""HTTP tools as tether tools: one toolset per tool file (or OpenAPI document).

::

    toolset = load_http_tools("tools/pets.yaml", allow=["127.0.0.1"])
    async with toolset:          # one pooled httpx client for all its tools, closed on exit
        agent = Agent(name="pets", model="...", tools=toolset.tools)
        await runtime.run(agent, "Find pet 7")

Outside ``async with`` (tools from an agent file, whose runs may use different event loops)
each call opens and closes its own client. There is no global client. Every request passes the
SSRF guard (:mod:`tether.tools.http.transport`); redirects are followed here, hop by hop, each
re-checked, and headers that carry secrets are dropped when a redirect leaves the origin.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from tether.errors import ToolArgumentError, ToolError, ToolTimeout, TransientToolError
from tether.tools.contract import RetryPolicy, Tool, ToolContext, ToolContract
from tether.tools.http.request import NO_BODY, RequestParts, build_request
from tether.tools.http.response import decode_body, result_or_raise
from tether.tools.http.spec import HttpToolFile, HttpToolSpec, load_tool_file
from tether.tools.http.ssrf import AllowList
from tether.tools.http.transport import GuardedTransport, Resolver, TransportFactory

_CONTEXT_KWARG = "__tether_context"


class HttpToolset:
    """The tools of one HTTP tool file; an async context manager that owns a pooled client."""

    def __init__(
        self,
        spec: HttpToolFile,
        *,
        allow: Iterable[str] = (),
        base_url: str | None = None,
        source: str = "<http tools>",
        resolver: Resolver | None = None,
        transport_factory: TransportFactory | None = None,
    ) -> None:
        self.spec = spec
        self.source = source
        self.base_url = base_url or spec.base_url
        self.allow = AllowList.parse([*spec.allow, *allow], source=f"{source}: allow")
        self._resolver = resolver
        self._transport_factory = transport_factory
        self._client: httpx.AsyncClient | None = None
        self._ssl: ssl.SSLContext | None = None  # built once: loading CA certificates is slow
        self.tools: tuple[Tool, ...] = tuple(self._make_tool(t) for t in spec.tools)

    def __getitem__(self, name: str) -> Tool:
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(name)

    async def __aenter__(self) -> Self:
        if self._client is None:
            self._client = self._new_client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared client and its connections (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _new_client(self) -> httpx.AsyncClient:
        transport = GuardedTransport(
            self.allow,
            resolver=self._resolver,
            transport_factory=self._transport_factory or self._pool,
        )
        # no cookie jar: a toolset serves many runs, and cookies would carry state between them
        no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        return httpx.AsyncClient(
            transport=transport, follow_redirects=False, trust_env=False, cookies=no_cookies
        )

    def _pool(self) -> httpx.AsyncBaseTransport:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return httpx.AsyncHTTPTransport(verify=self._ssl, trust_env=False)

    @asynccontextmanager
    async def _borrow(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._client is not None:
            yield self._client
            return
        async with self._new_client() as client:
            yield client

    def _make_tool(self, spec: HttpToolSpec) -> Tool:
        async def call_http_tool(**kwargs: Any) -> dict[str, Any]:
            ctx: ToolContext = kwargs.pop(_CONTEXT_KWARG)
            return await self.call(spec, kwargs, ctx)

        call_http_tool.__name__ = spec.name
        digest = hashlib.sha256(
            f"{spec.model_dump_json()}|{self.base_url}|"
            f"{self.spec.model_dump_json(exclude={'tools'})}".encode()
        ).hexdigest()
        contract = ToolContract(
            name=spec.name,
            description=spec.description,
            input_schema=spec.arguments_schema(),
            side_effect=spec.tier,
            idempotent=spec.is_idempotent,
            timeout_ms=spec.timeout_ms,
            retry=RetryPolicy(max_attempts=spec.max_attempts),
            rate_limit_qps=spec.rate_limit_qps,
            auth_scope=spec.auth_scope,
            cost=spec.cost,
            version=digest[:12],
            secrets=spec.secret_names(self.spec.headers),  # the only ones ctx.secrets holds
        )
        return Tool(contract=contract, fn=call_http_tool, wants_context=_CONTEXT_KWARG)

    async def call(
        self, spec: HttpToolSpec, arguments: Mapping[str, Any], ctx: ToolContext
    ) -> dict[str, Any]:
        """Send one call's request, follow redirects, and shape the response for the model."""
        parts = build_request(
            spec,
            arguments,
            base_url=self.base_url,
            common_headers=self.spec.headers,
            secrets=ctx.secrets,
        )
        if spec.tier != "read":
            parts.headers.setdefault("Idempotency-Key", ctx.idempotency_key)
        retry_safe = spec.tier == "read" or spec.is_idempotent
        try:
            async with self._borrow() as client:
                return await self._exchange(client, spec, parts, retry_safe)
        except httpx.TimeoutException as exc:
            raise ToolTimeout(
                f"tool {spec.name!r}: {parts.method} {parts.url} did not answer within "
                f"{spec.timeout_ms} ms; try again later or with a smaller request",
                tool=spec.name,
                detail={"timeout_ms": spec.timeout_ms},
            ) from exc
        except httpx.InvalidURL as exc:
            raise ToolArgumentError(
                f"tool {spec.name!r}: the URL is invalid ({exc}); fix the arguments",
                tool=spec.name,
            ) from exc
        except httpx.TransportError as exc:
            raise _transport_failure(spec, parts, exc, retry_safe) from exc

    async def _exchange(
        self, client: httpx.AsyncClient, spec: HttpToolSpec, parts: RequestParts, retry_safe: bool
    ) -> dict[str, Any]:
        request = client.build_request(
            parts.method,
            parts.url,
            params=tuple(parts.params),
            headers=parts.headers,
            json=None if parts.body is NO_BODY else parts.body,
            timeout=httpx.Timeout(spec.timeout_ms / 1000.0),
        )
        response = await client.send(request, stream=True)
        try:
            hops = 0
            while response.next_request is not None:
                if hops == self.spec.max_redirects:
                    raise ToolError(
                        f"tool {spec.name!r}: more than {self.spec.max_redirects} redirects "
                        f"from {parts.url}; the tool's URL is wrong, report it",
                        tool=spec.name,
                        detail={"max_redirects": self.spec.max_redirects},
                    )
                following = _drop_secrets_across_origins(response.next_request, request, parts)
                await response.aclose()
                hops += 1
                response = await client.send(following, stream=True)
            content, truncated = await _read_bounded(response, self.spec.max_response_bytes)
        finally:
            await response.aclose()
        body = decode_body(
            content,
            content_type=response.headers.get("content-type", ""),
            encoding=response.charset_encoding,
            truncated=truncated,
            limit=self.spec.max_response_bytes,
            secrets=parts.secret_values,
        )
        return result_or_raise(
            tool=spec.name,
            method=parts.method,
            url=str(response.request.url.copy_with(query=None)),
            status=response.status_code,
            reason=response.reason_phrase,
            headers=response.headers,
            body=body,
            truncated=truncated,
            retry_safe=retry_safe,
        )


def _drop_secrets_across_origins(
    following: httpx.Request, original: httpx.Request, parts: RequestParts
) -> httpx.Request:
    """A redirect to another origin keeps no header that carries a secret."""
    same = (following.url.scheme, following.url.host, following.url.port) == (
        original.url.scheme,
        original.url.host,
        original.url.port,
    )
    if not same:
        for name in parts.secret_headers:
            following.headers.pop(name, None)
    return following


async def _read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the (decoded) body, and whether there was more."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > limit:
            return bytes(data[:limit]), True
    return bytes(data), False


def _transport_failure(
    spec: HttpToolSpec, parts: RequestParts, exc: httpx.TransportError, retry_safe: bool
) -> ToolError:
    what = f"tool {spec.name!r}: {parts.method} {parts.url} failed: {type(exc).__name__}"
    detail = {"exception": type(exc).__name__}
    if isinstance(exc, httpx.ConnectError) or retry_safe:  # not sent, or safe to repeat
        return TransientToolError(f"{what}; try again later", tool=spec.name, detail=detail)
    return ToolError(
        f"{what}; the change may or may not have happened, check before trying again",
        tool=spec.name,
        detail=detail,
    )


def load_http_tools(
    path: str | Path,
    *,
    allow: Iterable[str] = (),
    base_url: str | None = None,
    resolver: Resolver | None = None,
    transport_factory: TransportFactory | None = None,
) -> HttpToolset:
    """Load an HTTP tool file; ``allow`` adds SSRF exceptions to the file's own."""
    spec = load_tool_file(path)
    return HttpToolset(
        spec,
        allow=allow,
        base_url=base_url,
        source=str(path),
        resolver=resolver,
        transport_factory=transport_factory,
    )
