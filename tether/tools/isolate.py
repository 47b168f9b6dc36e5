"""Sync tools that run in a subprocess, so a timeout can kill them (``isolation="process"``).

A thread that ignores its timeout can only be abandoned: it keeps its CPU, memory and open
files until it returns. A tool declared ``@tool(isolation="process")`` runs instead in a fresh
``python -m tether.tools.isolate`` child: the request (the tool's ``module:function``
reference, its validated arguments, the run facts and the values of the secrets it declares)
goes in on stdin, the JSON result comes back on stdout, and on timeout or cancellation the child
is killed (SIGKILL) and reaped. The tool must be importable (defined at module level) and its
result JSON-serializable. Each call pays for a Python start-up (tens of milliseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from tether.errors import SecretError, ToolError, ToolTimeout
from tether.secrets import SecretSource
from tether.tools.contract import Tool, ToolContext

_MAX_STDERR = 2000


def tool_reference(tool: Tool) -> str:
    """``module:attribute`` that imports to ``tool`` in another process."""
    module = getattr(tool.fn, "__module__", None)
    attr = getattr(tool.fn, "__name__", None)
    found = None
    if module and attr and module != "__main__":
        with contextlib.suppress(ImportError):
            found = getattr(importlib.import_module(module), attr, None)
    if not (isinstance(found, Tool) and found.name == tool.name):
        raise ToolError(
            f"tool {tool.name!r} runs in a subprocess (isolation='process') but cannot be "
            "imported there; define it at module level in an importable module",
            tool=tool.name,
        )
    return f"{module}:{attr}"


async def run_isolated(tool: Tool, arguments: dict[str, Any], ctx: ToolContext) -> Any:
    """Run ``tool`` in a child process; kill it when its timeout passes (``ToolTimeout``)."""
    request = json.dumps(
        {
            "ref": tool_reference(tool),
            "arguments": arguments,
            "sys_path": sys.path,
            "context": {
                "run_id": ctx.run_id,
                "idempotency_key": ctx.idempotency_key,
                "call_id": ctx.call_id,
                "workspace": str(ctx.workspace),
                # resolved here, so the parent's redactor learns them before the child runs
                "secrets": _secret_values(tool, ctx),
            },
        }
    ).encode()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tether.tools.isolate",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(tool.contract.timeout_ms / 1000.0):
            out, err = await child.communicate(request)
    except TimeoutError:
        raise ToolTimeout(
            f"tool {tool.name!r} did not finish within {tool.contract.timeout_ms} ms and was "
            "stopped; try again later, with a smaller request, or use another tool",
            tool=tool.name,
            detail={"timeout_ms": tool.contract.timeout_ms, "killed": True},
        ) from None
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    return _reply(tool, child.returncode, out, err)


def _secret_values(tool: Tool, ctx: ToolContext) -> dict[str, str]:
    """The declared secrets that are set (one that is not fails in the child when read)."""
    values = {}
    for name in tool.contract.secrets:
        with contextlib.suppress(SecretError):
            values[name] = ctx.secrets[name]
    return values


def _reply(tool: Tool, code: int | None, out: bytes, err: bytes) -> Any:
    try:
        reply = json.loads(out.decode() or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        reply = None
    if not isinstance(reply, dict):
        tail = err.decode(errors="replace")[-_MAX_STDERR:].strip()
        raise ToolError(
            f"tool {tool.name!r} exited with code {code} in its subprocess without a result"
            + (f": {tail}" if tail else ""),
            tool=tool.name,
        )
    if reply.get("ok"):
        return reply.get("result")
    raise ToolError(str(reply.get("message")), tool=tool.name, detail=reply.get("detail") or {})


def _child_main() -> None:
    """The child: read one request on stdin, answer on the original stdout."""
    request = json.loads(sys.stdin.read())
    reply_to = os.fdopen(os.dup(1), "w")
    sys.stdout = sys.stderr  # the tool's own prints must not corrupt the reply
    sys.path[:] = request["sys_path"]
    try:
        reply = {"ok": True, "result": _call(request)}
    except ToolError as exc:
        reply = {"ok": False, "message": str(exc), "detail": exc.detail}
    except Exception as exc:
        reply = {
            "ok": False,
            "message": f"{type(exc).__name__}: {exc}",
            "detail": {"exception": type(exc).__name__},
        }
    reply_to.write(json.dumps(reply, default=str))
    reply_to.close()


def _call(request: dict[str, Any]) -> Any:
    module, _, attr = request["ref"].partition(":")
    tool = getattr(importlib.import_module(module), attr)
    kwargs = dict(request["arguments"])
    if tool.wants_context is not None:
        c = request["context"]
        kwargs[tool.wants_context] = ToolContext(
            run_id=c["run_id"],
            idempotency_key=c["idempotency_key"],
            call_id=c["call_id"],
            workspace=Path(c["workspace"]),
            secrets=SecretSource(static=c["secrets"]).for_tool(tool.name, tool.contract.secrets),
        )
    from tether.tools.jsonable import to_jsonable

    return to_jsonable(tool.fn(**kwargs))


if __name__ == "__main__":
    _child_main()
