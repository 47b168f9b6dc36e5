"""How tether reaches an MCP server: a stdio subprocess or a Streamable HTTP endpoint.

:class:`McpServer` is the validated configuration (what an agent's config file names): either
``command`` (stdio) or ``url`` (Streamable HTTP), with the tier overrides and name prefix that
``tether.tools.mcp_client.mcp_tools`` applies. Each ``*_transport`` returns a factory of the
SDK's transport context manager; the connection task enters it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx2
from mcp import StdioServerParameters, stdio_client
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.errors import ConfigError, UsageError
from tether.tools.contract import SideEffect

Transport = Callable[[], AbstractAsyncContextManager[TransportStreams]]


class McpServer(BaseModel):
    """One MCP server an agent uses: ``command`` (stdio) or ``url`` (Streamable HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] | None = Field(default=None, description="stdio: program and arguments")
    url: str | None = Field(default=None, description="Streamable HTTP endpoint, e.g. .../mcp")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers (url only)")
    env: dict[str, str] | None = Field(default=None, description="extra environment (stdio)")
    cwd: str | None = Field(default=None, description="working folder (stdio)")
    prefix: str = Field(default="", description="prepended to every tool name")
    read_tools: list[str] = Field(default_factory=list, description="tools forced to 'read'")
    write_tools: list[str] = Field(default_factory=list, description="tools forced to 'write'")
    side_effects: dict[str, SideEffect] = Field(default_factory=dict, description="per tool")
    timeout_ms: int = Field(default=30_000, gt=0, description="per tool call")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError("set exactly one of 'command' (stdio) or 'url' (Streamable HTTP)")
        if self.command is not None and not self.command:
            raise ValueError("'command' is empty; give the program and its arguments")
        if self.url is not None:
            check_url(self.url)
        if self.headers and self.url is None:
            raise ValueError("'headers' apply to a 'url' server only")
        return self

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, source: str = "<config>") -> McpServer:
        """Validate a config mapping; errors name ``source`` and the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "<root>"
            raise ConfigError(f"{source}: MCP server field {where!r}: {err['msg']}") from exc

    @property
    def where(self) -> str:
        return repr(self.url) if self.url is not None else repr(self.command)

    def transport(self, errlog: TextIO) -> Transport:
        if self.url is not None:
            return http_transport(self.url, headers=self.headers)
        assert self.command is not None
        return stdio_transport(self.command, env=self.env, cwd=self.cwd, errlog=errlog)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"MCP url {url!r} is not an http(s) URL; use e.g. 'http://127.0.0.1:8765/mcp'"
        )
    return url


def as_server(server: Sequence[str] | str | McpServer, **options: Any) -> McpServer:
    """``server`` as an ``McpServer``: a URL string, a command list, or a config."""
    if isinstance(server, McpServer):
        return server.model_copy(update={k: v for k, v in options.items() if v is not None})
    if isinstance(server, str):
        fields: dict[str, Any] = {"url": server}
    else:
        if not server:
            raise UsageError(
                "mcp_tools needs a command, e.g. [sys.executable, '-m', 'mcp_server_time'], "
                "or a URL, e.g. 'http://127.0.0.1:8765/mcp'"
            )
        fields = {"command": list(server)}
    fields.update({k: v for k, v in options.items() if v is not None})
    return McpServer.parse(fields, source="mcp_tools")


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
