"""The SSRF guard at the edge: an httpx transport that resolves, checks, then connects to the
checked address.

Each request's host is resolved once (``getaddrinfo`` in a worker thread), every address is
checked (:func:`tether.tools.http.ssrf.check`), and the request is sent to a checked address
(the next one if connecting fails) with the original ``Host`` header and TLS server name (SNI),
so the certificate is verified for the host name and a second DNS answer cannot swap the target
(no rebinding gap).
Redirects are not followed here: the caller follows them hop by hop, and each hop passes through
this transport again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from tether.errors import EgressBlocked, ToolError
from tether.tools.http.ssrf import AllowList, IPAddress, check, parse_ip_literal

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
TransportFactory = Callable[[], httpx.AsyncBaseTransport]


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order, without duplicates."""
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ToolError(
            f"cannot resolve host {host!r}: {exc.strerror}; check the URL",
            detail={"host": host},
        ) from exc
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _checked_first(addresses: list[IPAddress], first: IPAddress) -> list[IPAddress]:
    """Every address passed the check; the verdict's comes first, the rest in resolver order."""
    return [first, *(a for a in addresses if a != first)]


def _pinned(
    request: httpx.Request, address: IPAddress, extensions: dict[str, object]
) -> httpx.Request:
    return httpx.Request(
        request.method,
        request.url.copy_with(host=str(address)),
        headers=request.headers,  # keeps the original Host header
        stream=request.stream,
        extensions=extensions,
    )


def _default_transport() -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(trust_env=False)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Refuses blocked targets before any connection; pins each request to its checked address.

    ``resolver`` and ``transport_factory`` are injectable (tests record connection attempts).
    One inner transport (connection pool) per host name keeps TLS sessions apart per name.
    """

    def __init__(
        self,
        allow: AllowList,
        *,
        resolver: Resolver | None = None,
        transport_factory: TransportFactory | None = None,
    ) -> None:
        self._allow = allow
        self._resolve = resolver or resolve
        self._factory = transport_factory or _default_transport
        self._inner: dict[str, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise EgressBlocked(
                f"refused URL scheme {url.scheme!r} for {url.host!r}; only http and https",
                detail={"host": url.host, "reason": "scheme"},
            )
        host = url.host
        literal = parse_ip_literal(host)
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = [literal] if literal is not None else await self._resolve(host, port)
        verdict = check(host, addresses, self._allow)
        if not verdict.allowed or verdict.address is None:
            raise EgressBlocked(
                verdict.message(),
                detail={
                    "host": host,
                    "address": str(verdict.address) if verdict.address else None,
                    "reason": verdict.reason,
                    "allow_with": host,
                },
            )
        extensions = dict(request.extensions)
        if url.scheme == "https" and literal is None:
            extensions["sni_hostname"] = host
        inner = self._inner_for(host)
        *others, last = _checked_first(addresses, verdict.address)
        for address in others:
            try:
                return await inner.handle_async_request(_pinned(request, address, extensions))
            except httpx.ConnectError:  # nothing was sent: try the next checked address
                continue
        return await inner.handle_async_request(_pinned(request, last, extensions))

    def _inner_for(self, host: str) -> httpx.AsyncBaseTransport:
        key = host.lower()
        inner = self._inner.get(key)
        if inner is None:
            inner = self._inner[key] = self._factory()
        return inner

    async def aclose(self) -> None:
        inner, self._inner = self._inner, {}
        for transport in inner.values():
            await transport.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()
