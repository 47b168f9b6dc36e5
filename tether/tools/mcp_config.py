"""The configuration of an MCP server an agent uses (pure pydantic; no MCP SDK import).

:class:`McpServer` is what an agent's config names: ``command`` (stdio) or ``url`` (Streamable
HTTP), with the tier overrides and the name prefix that ``mcp_tools`` applies. Agent files
list them under ``mcp:``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.errors import ConfigError, UsageError
from tether.tools.contract import SideEffect


class McpServer(BaseModel):
    """One MCP server an agent uses: ``command`` (stdio) or ``url`` (Streamable HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] | None = Field(default=None, description="stdio: program and arguments")
    url: str | None = Field(default=None, description="Streamable HTTP endpoint, e.g. .../mcp")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers (url only)")
    header_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers whose values are secrets, by secret name (url only)",
    )
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
        if (self.headers or self.header_secrets) and self.url is None:
            raise ValueError("'headers' and 'header_secrets' apply to a 'url' server only")
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


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"MCP url {url!r} is not an http(s) URL; use e.g. 'http://127.0.0.1:8765/mcp'"
        )
    return url


def as_server(server: Sequence[str] | str, **options: Any) -> McpServer:
    """A URL string or a command list as an ``McpServer`` with ``options`` (None: default)."""
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
