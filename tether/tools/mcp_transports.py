"""How tether reaches an MCP server: a stdio subprocess or a Streamable HTTP endpoint.

Each function returns a factory of the SDK's transport context manager; the connection task
of ``tether.tools.mcp_client`` enters it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TextIO

import httpx2
from mcp import StdioServerParameters, stdio_client
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client

from tether.tools.mcp_config import McpServer

Transport = Callable[[], AbstractAsyncContextManager[TransportStreams]]


def transport_for(server: McpServer, errlog: TextIO) -> Transport:
    if server.url is not None:
        return http_transport(server.url, headers=server.headers)
    assert server.command is not None
    return stdio_transport(server.command, env=server.env, cwd=server.cwd, errlog=errlog)


def stdio_transport(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    errlog: TextIO,
) -> Transport:
    """Start ``command`` and speak MCP over its stdin/stdout; ``env`` is merged over the SDK's
    safe default environment."""
    params = StdioServerParameters(
        command=command[0], args=list(command[1:]), env=dict(env) if env else None, cwd=cwd
    )
    return lambda: stdio_client(params, errlog=errlog)


def http_transport(
    url: str, *, headers: Mapping[str, str] | None = None, connect_timeout_s: float = 10.0
) -> Transport:
    """Speak MCP over Streamable HTTP at ``url``; the HTTP client is closed with the session."""

    @asynccontextmanager
    async def open_http() -> Any:
        timeout = httpx2.Timeout(connect_timeout_s, read=300.0)
        async with (
            httpx2.AsyncClient(headers=dict(headers or {}), timeout=timeout) as client,
            streamable_http_client(url, http_client=client) as streams,
        ):
            yield streams

    return open_http
