"""Use the tools of an MCP server (over stdio or Streamable HTTP) as tether tools.

::

    toolset = await mcp_tools([sys.executable, "-m", "mcp_server_time"])  # a command: stdio
    toolset = await mcp_tools("http://127.0.0.1:8765/mcp")              # a URL: Streamable HTTP
    async with toolset:
        agent = Agent(name="clock", model="...", tools=toolset.tools)
        await runtime.run(agent, "What time is it in UTC?")

The server process (stdio) or HTTP session, and its ``ClientSession``, stay open while the
toolset is; leaving the ``async with`` block (or ``aclose()``) closes them. The connection lives
in a task of its own, so the toolset may be closed from any task, and its tools called from any
task on the same event loop. :class:`McpServer` is the same choice as a config object (what an
agent's configuration file holds): ``command`` or ``url``, plus tiers and a name prefix.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Self, TextIO

import anyio
import mcp_types
from mcp import ClientSession, MCPError
from mcp_types.jsonrpc import CONNECTION_CLOSED

from tether.errors import ConfigError, ToolError
from tether.secrets import SecretSource
from tether.tools.contract import (
    NO_RETRY,
    TOOL_NAME_PATTERN,
    SideEffect,
    Tool,
    ToolContract,
)
from tether.tools.mcp_config import McpServer, as_server
from tether.tools.mcp_transports import Transport, transport_for

_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]+")
_MAX_NAME = 64


class McpToolset:
    """The tools of one running MCP server; an async context manager that stops the server."""

    def __init__(self, tools: Sequence[Tool], names: Mapping[str, str], connection: _Connection):
        self.tools: tuple[Tool, ...] = tuple(tools)
        self.mcp_names: Mapping[str, str] = dict(names)  # tether name -> MCP name
        self._connection = connection

    def __getitem__(self, name: str) -> Tool:
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(name)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session and stop the server process (idempotent)."""
        await self._connection.aclose()


class _Connection:
    """A ``ClientSession`` over a transport (stdio or Streamable HTTP), held open by a task of
    its own.

    anyio requires a cancel scope to be left by the task that entered it; owning the
    connection in a dedicated task lets any task (a test fixture's teardown, a runtime
    shutting down) close the toolset.
    """

    def __init__(self, transport: Transport, where: str) -> None:
        self._transport, self._where = transport, where
        self._ready: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> ClientSession:
        self._task = asyncio.create_task(self._hold(), name="tether-mcp-connection")
        try:
            return await asyncio.shield(self._ready)
        except Exception as exc:
            await self.aclose()
            cause = _first_leaf(exc)
            raise ConfigError(
                f"MCP server {self._where} did not start: {type(cause).__name__}: {cause}; "
                "check the command (and its stderr output) or that the URL serves MCP"
            ) from exc
        except BaseException:
            await self.aclose()
            raise

    async def _hold(self) -> None:
        try:
            async with (
                self._transport() as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                self._ready.set_result(session)
                await self._stop.wait()
        except asyncio.CancelledError:
            self._ready.cancel()  # no-op once the session was handed out
            raise
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
                return  # reported through open()
            raise

    async def aclose(self) -> None:
        """Stop the connection task; cancel it if the session is still starting."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        if not self._ready.done():
            task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.result()  # a failure while shutting the session down


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def mcp_tools(
    server: Sequence[str] | str | McpServer,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    headers: Mapping[str, str] | None = None,
    write_tools: Collection[str] = frozenset(),
    read_tools: Collection[str] = frozenset(),
    side_effects: Mapping[str, SideEffect] | None = None,
    prefix: str = "",
    timeout_ms: int = 30_000,
    errlog: TextIO | None = None,
) -> McpToolset:
    """Connect to an MCP server and return its tools as tether tools.

    ``server`` is a command (a list: started and spoken to over stdio), a URL (a string:
    Streamable HTTP, ``headers`` sent with every request) or an :class:`McpServer` config
    (whose own settings then apply; the keyword options here are ignored for it).
    A tool's side effect is, first match wins: ``side_effects[name]``; ``"write"`` if the name
    is in ``write_tools``; ``"read"`` if it is in ``read_tools``; ``"read"`` if the server marks
    it ``readOnlyHint``; ``"high_risk"`` if it marks it ``destructiveHint``; else ``"write"``.
    Names may be the MCP tool's name or the tether name (``prefix`` + sanitized MCP name).
    ``env`` is merged over the SDK's safe default environment. A server that cannot be
    started or reached, or fails the MCP handshake, raises ``ConfigError``.
    """
    config = (
        server
        if isinstance(server, McpServer)
        else as_server(
            server,
            env=dict(env) if env else None,
            cwd=cwd,
            headers=dict(headers) if headers else None,
            write_tools=sorted(write_tools),
            read_tools=sorted(read_tools),
            side_effects=dict(side_effects or {}),
            prefix=prefix,
            timeout_ms=timeout_ms,
        )
    )
    return await open_toolset(config, errlog=errlog)


async def open_toolset(
    config: McpServer, *, errlog: TextIO | None = None, secrets: SecretSource | None = None
) -> McpToolset:
    """The tools of the MCP server ``config`` names (see :func:`mcp_tools`); its
    ``header_secrets`` are looked up in ``secrets`` when it connects."""
    if config.header_secrets:
        config = config.model_copy(
            update={"headers": config.headers | _secret_headers(config, secrets)}
        )
    policy = _SideEffectPolicy(
        config.side_effects, frozenset(config.write_tools), frozenset(config.read_tools)
    )
    connection = _Connection(transport_for(config, errlog or sys.stderr), config.where)
    session = await connection.open()
    try:
        listed = await _list_all_tools(session)
        tools, names = _build_tools(session, listed, config.prefix, policy, config.timeout_ms)
    except BaseException:
        await connection.aclose()
        raise
    return McpToolset(tools, names, connection)


def _secret_headers(config: McpServer, secrets: SecretSource | None) -> dict[str, str]:
    headers = {}
    for header, name in config.header_secrets.items():
        value = secrets.get(name) if secrets is not None else None
        if value is None:
            raise ConfigError(
                f"MCP server {config.where}: header {header!r} needs secret {name!r}, which is "
                f"not set; set TETHER_SECRET_{name.upper()} or add it to TETHER_SECRETS_FILE"
            )
        headers[header] = value
    return headers


@asynccontextmanager
async def open_servers(
    servers: Sequence[McpServer],
    *,
    errlog: TextIO | None = None,
    secrets: SecretSource | None = None,
) -> AsyncIterator[list[Tool]]:
    """The tools of every server in ``servers``, connected for the ``async with`` block."""
    async with AsyncExitStack() as stack:
        tools: list[Tool] = []
        for server in servers:
            toolset = await open_toolset(server, errlog=errlog, secrets=secrets)
            stack.push_async_callback(toolset.aclose)
            tools.extend(toolset.tools)
        yield tools


async def _list_all_tools(session: ClientSession) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    while True:
        params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


class _SideEffectPolicy:
    def __init__(
        self,
        overrides: Mapping[str, SideEffect],
        write: frozenset[str],
        read: frozenset[str],
    ) -> None:
        self.overrides, self.write, self.read = overrides, write, read

    def decide(self, mcp_tool: mcp_types.Tool, tether_name: str) -> SideEffect:
        names = (mcp_tool.name, tether_name)
        for name in names:
            if name in self.overrides:
                return self.overrides[name]
        if any(n in self.write for n in names):
            return "write"
        if any(n in self.read for n in names):
            return "read"
        hints = mcp_tool.annotations
        if hints is not None and hints.read_only_hint:
            return "read"
        if hints is not None and hints.destructive_hint:
            return "high_risk"
        return "write"


def _build_tools(
    session: ClientSession,
    listed: Sequence[mcp_types.Tool],
    prefix: str,
    policy: _SideEffectPolicy,
    timeout_ms: int,
) -> tuple[list[Tool], dict[str, str]]:
    tools: list[Tool] = []
    names: dict[str, str] = {}
    for item in listed:
        name = _unique(sanitize_tool_name(item.name, prefix=prefix), names)
        names[name] = item.name
        hints = item.annotations
        contract = ToolContract(
            name=name,
            description=item.description or item.title or f"MCP tool {item.name!r}",
            input_schema=normalize_input_schema(item.input_schema),
            side_effect=policy.decide(item, name),
            idempotent=bool(hints is not None and hints.idempotent_hint),
            timeout_ms=timeout_ms,
            retry=NO_RETRY,
        )
        tools.append(Tool(contract=contract, fn=_caller(session, item.name, name)))
    return tools, names


def sanitize_tool_name(name: str, *, prefix: str = "") -> str:
    """``prefix + name`` as a valid tether tool name: other characters become ``_``."""
    text = _INVALID_NAME_CHARS.sub("_", prefix + name).strip("_") or "tool"
    if text[0].isdigit():
        text = "_" + text
    text = text[:_MAX_NAME]
    if not TOOL_NAME_PATTERN.match(text):  # pragma: no cover - defensive
        raise ConfigError(f"MCP tool {name!r} cannot be given a valid tether name; rename it")
    return text


def _unique(name: str, taken: Mapping[str, str]) -> str:
    if name not in taken:
        return name
    for n in range(2, 1000):
        suffix = f"_{n}"
        candidate = name[: _MAX_NAME - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise ConfigError(f"too many MCP tools sanitize to {name!r}; pass a prefix or rename them")


def normalize_input_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an MCP input schema that tether accepts: an object that forbids unknown keys.

    MCP servers often leave ``additionalProperties`` open; tether requires it closed, so the
    model is held to the declared properties (the server accepts those in any case).
    """
    result = copy.deepcopy(dict(schema))
    result["type"] = "object"
    properties = result.get("properties")
    if not isinstance(properties, dict):
        properties = {}
        result["properties"] = properties
    result["additionalProperties"] = False
    required = result.get("required")
    if isinstance(required, list):
        result["required"] = [r for r in required if r in properties]
    elif required is not None:
        del result["required"]
    return result


def _caller(
    session: ClientSession, mcp_name: str, tether_name: str
) -> Callable[..., Awaitable[Any]]:
    async def call_mcp_tool(**arguments: Any) -> Any:
        try:
            result = await session.call_tool(mcp_name, arguments)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise _disconnected(mcp_name, tether_name) from exc
            raise ToolError(
                f"MCP tool {mcp_name!r} failed: {exc.message}; check the arguments and try again",
                tool=tether_name,
                detail={"mcp_tool": mcp_name, "mcp_code": exc.code},
            ) from exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise _disconnected(mcp_name, tether_name) from exc
        return tool_result_value(result, tool=tether_name, mcp_name=mcp_name)

    call_mcp_tool.__name__ = tether_name
    return call_mcp_tool


def _disconnected(mcp_name: str, tether_name: str) -> ToolError:
    return ToolError(
        f"the MCP server for tool {mcp_name!r} is no longer connected; "
        "use another tool, or restart the toolset",
        tool=tether_name,
        detail={"mcp_tool": mcp_name},
    )


def tool_result_value(result: mcp_types.CallToolResult, *, tool: str, mcp_name: str) -> Any:
    """Structured content if any, else the text content joined; an error result raises."""
    text = "\n".join(c.text for c in result.content if isinstance(c, mcp_types.TextContent))
    if result.is_error:
        raise ToolError(
            f"MCP tool {mcp_name!r} reported an error: {text or 'no details'}",
            tool=tool,
            detail={"mcp_tool": mcp_name},
        )
    if result.structured_content is not None:
        return result.structured_content
    if text or not result.content:
        return text
    return [json.loads(c.model_dump_json(by_alias=True, exclude_none=True)) for c in result.content]
