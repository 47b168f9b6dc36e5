"""Serve tether tools to MCP clients (``tether mcp serve``), over stdio or Streamable HTTP.

Each tool is listed with its name, description, input schema and side-effect hints, and called
through tether's :class:`~tether.tools.executor.ToolExecutor`: arguments are validated against
the contract first, then the tool runs with its timeout and retry policy (sync tools in a worker
thread). Any failure, invalid arguments included, comes back as an ``isError`` result carrying
tether's structured error, never as a crash of the server.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import mcp_types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from tether.errors import ToolError, UsageError
from tether.secrets import SecretSource
from tether.settings import load_settings
from tether.tools import BUILTIN_TOOLS
from tether.tools.contract import Tool, ToolContext, ToolContract
from tether.tools.executor import ToolExecutor, ToolOutcome, failure
from tether.tools.registry import ToolRegistry
from tether.types import ToolCall

SERVER_NAME = "tether"


def build_server(
    tools: Sequence[Tool] = BUILTIN_TOOLS,
    *,
    workspace: Path | None = None,
    secrets: SecretSource | None = None,
) -> Server[Any]:
    """An MCP server exposing ``tools``; tools that take a ``ToolContext`` see ``workspace``
    and the secrets they declare (from ``secrets``, default: the settings' sources)."""
    source = secrets if secrets is not None else load_settings().secret_source()
    registry = ToolRegistry(tools)
    executor = ToolExecutor()
    root = (workspace or Path.cwd()).resolve()
    listing = mcp_types.ListToolsResult(tools=[mcp_tool(c) for c in registry.contracts()])

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return listing

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        outcome = await _execute(executor, registry, root, source, params)
        return call_result(outcome)

    return Server(SERVER_NAME, on_list_tools=on_list_tools, on_call_tool=on_call_tool)


def mcp_tool(contract: ToolContract) -> mcp_types.Tool:
    """How ``contract`` is described to an MCP client."""
    return mcp_types.Tool(
        name=contract.name,
        description=contract.description,
        input_schema=contract.input_schema,
        annotations=mcp_types.ToolAnnotations(
            read_only_hint=contract.side_effect == "read",
            destructive_hint=contract.side_effect == "high_risk",
            idempotent_hint=contract.idempotent,
        ),
    )


async def _execute(
    executor: ToolExecutor,
    registry: ToolRegistry,
    workspace: Path,
    secrets: SecretSource,
    params: mcp_types.CallToolRequestParams,
) -> ToolOutcome:
    call_id = uuid.uuid4().hex
    call = ToolCall(id=call_id, name=params.name, arguments=params.arguments or {})
    try:
        # resolves the tool and runs tether.tools.validation.validate_arguments
        prepared = executor.prepare(registry, call)
    except ToolError as exc:
        return failure(exc)
    ctx = ToolContext(
        run_id=f"mcp-{call_id}",
        idempotency_key=f"mcp-{call_id}",
        workspace=workspace,
        call_id=call_id,
        secrets=secrets.for_tool(prepared.tool.name, prepared.tool.contract.secrets),
    )
    return await executor.execute(prepared, ctx)


def call_result(outcome: ToolOutcome) -> mcp_types.CallToolResult:
    """An MCP result for a tether outcome: JSON text, plus structured content for objects."""
    if not outcome.ok:
        payload: Any = {"error": outcome.error}
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=json.dumps(payload))],
            structured_content=payload,
            is_error=True,
        )
    value = outcome.result
    text = value if isinstance(value, str) else json.dumps(value)
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=text)],
        structured_content=value if isinstance(value, dict) else None,
        is_error=False,
    )


async def serve_stdio_async(
    tools: Sequence[Tool] = BUILTIN_TOOLS, *, workspace: Path | None = None
) -> None:
    """Serve ``tools`` over this process's stdin/stdout until the client disconnects."""
    server = build_server(tools, workspace=workspace)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def serve_stdio(tools: Sequence[Tool] = BUILTIN_TOOLS, *, workspace: Path | None = None) -> None:
    """Blocking entry point for ``tether mcp serve``: tether's built-in tools by default."""
    anyio.run(lambda: serve_stdio_async(tools, workspace=workspace))


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_loopback(host: str) -> None:
    """The HTTP server has no authentication, so it binds to loopback only."""
    if host not in LOOPBACK:
        raise UsageError(
            f"tether mcp serve binds to loopback only, not {host!r}; use 127.0.0.1 "
            "(put a reverse proxy with authentication in front of it for remote clients)"
        )


def http_app(
    tools: Sequence[Tool] = BUILTIN_TOOLS,
    *,
    workspace: Path | None = None,
    host: str = "127.0.0.1",
    path: str = "/mcp",
) -> Any:
    """The Streamable HTTP ASGI app (Starlette) serving ``tools`` at ``path``.

    On a loopback ``host`` the SDK turns on DNS-rebinding protection (Host and Origin must be
    loopback too).
    """
    server = build_server(tools, workspace=workspace)
    return server.streamable_http_app(streamable_http_path=path, host=host)


async def serve_http_async(
    tools: Sequence[Tool] = BUILTIN_TOOLS,
    *,
    workspace: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    path: str = "/mcp",
) -> None:
    """Serve ``tools`` over Streamable HTTP at ``http://host:port/path`` until SIGINT/SIGTERM."""
    import uvicorn

    app = http_app(tools, workspace=workspace, host=host, path=path)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


def serve_http(
    tools: Sequence[Tool] = BUILTIN_TOOLS,
    *,
    workspace: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    path: str = "/mcp",
) -> None:
    """Blocking entry point for ``tether mcp serve --transport http``."""
    check_loopback(host)
    anyio.run(lambda: serve_http_async(tools, workspace=workspace, host=host, port=port, path=path))
