"""Safe built-in tools: arithmetic, the current date and time, and reading the run's workspace."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from tether.errors import ToolArgumentError
from tether.tools.calc import MAX_EXPRESSION_LENGTH, evaluate
from tether.tools.contract import RetryPolicy, Tool, ToolContext
from tether.tools.decorator import tool
from tether.tools.registry import ToolRegistry

MAX_READ_BYTES = 64 * 1024
MAX_LIST_ENTRIES = 200
_NO_RETRY = RetryPolicy(max_attempts=1)
# Digits, operators, parentheses, names of functions and constants: the pattern is part of the
# schema, so a grammar-constrained model cannot wander into prose inside the expression.
EXPRESSION_PATTERN = rf"^[0-9a-z(\-][0-9a-z+\-*/%.,() ]{{0,{MAX_EXPRESSION_LENGTH - 1}}}$"


@tool(idempotent=True, timeout_ms=2_000, retry=_NO_RETRY, trusted_output=True)
def calculator(
    expression: Annotated[
        str,
        Field(min_length=1, max_length=MAX_EXPRESSION_LENGTH, pattern=EXPRESSION_PATTERN),
    ],
) -> dict[str, Any]:
    """Calculate (compute) the numeric result of an arithmetic math expression.
    Use it for any arithmetic: add, subtract, multiply, divide, powers, square roots and rounding.
    Supports + - * / // % ** and parentheses, the functions sqrt, abs, round, min, max, floor,
    ceil, log, exp, sin, cos, tan and the constants pi and e.

    Args:
        expression: The arithmetic expression, e.g. "(17 * 23) + sqrt(16)".
    """
    return {"expression": expression, "result": evaluate(expression)}


@tool(idempotent=True, timeout_ms=2_000, retry=_NO_RETRY, trusted_output=True)
def current_datetime(
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC",
) -> dict[str, str]:
    """Get the current date, time and weekday (today, now) in a time zone.

    Args:
        timezone: An IANA time zone name such as "UTC", "Europe/Paris" or "America/New_York".
    """
    try:
        zone = zoneinfo.ZoneInfo(timezone.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ToolArgumentError(
            f"unknown time zone {timezone!r}; use an IANA name such as 'UTC', "
            "'Europe/London' or 'America/New_York'",
            tool="current_datetime",
            detail={"timezone": timezone},
        ) from exc
    now = dt.datetime.now(zone)
    return {
        "timezone": str(zone),
        "iso": now.isoformat(timespec="seconds"),
        "date": now.date().isoformat(),
        "time": now.time().isoformat(timespec="seconds"),
        "weekday": now.strftime("%A"),
    }


def confine(workspace: Path, relative: str, *, tool_name: str) -> Path:
    """The real path of ``relative`` inside ``workspace``; anything that escapes it is refused.

    Symlinks are resolved first, so a link that points outside the workspace is refused too.
    """
    root = workspace.resolve(strict=False)
    candidate = Path(relative.strip() or ".")
    target = (candidate if candidate.is_absolute() else root / candidate).resolve(strict=False)
    if target != root and root not in target.parents:
        raise ToolArgumentError(
            f"path {relative!r} escapes the workspace; use a path relative to the workspace "
            "root without '..' (call list_files to see what is there)",
            tool=tool_name,
            detail={"path": relative},
        )
    return target


def _not_found(relative: str, tool_name: str, what: str) -> ToolArgumentError:
    return ToolArgumentError(
        f"{what} {relative!r} does not exist in the workspace; "
        "call list_files to see what is there",
        tool=tool_name,
        detail={"path": relative},
    )


@tool(idempotent=True, timeout_ms=5_000)
def read_file(
    ctx: ToolContext,
    path: Annotated[str, Field(min_length=1, max_length=1024)],
) -> dict[str, Any]:
    """Read (open) a UTF-8 text file from the workspace and return its contents.

    Files larger than 64 KiB are truncated, and binary files are refused.

    Args:
        path: The file's path relative to the workspace root, e.g. "notes/todo.txt".
    """
    target = confine(ctx.workspace, path, tool_name="read_file")
    if not target.is_file():
        raise _not_found(path, "read_file", "file")
    size = target.stat().st_size
    with target.open("rb") as handle:
        data = handle.read(MAX_READ_BYTES)
    if b"\x00" in data:
        raise ToolArgumentError(
            f"file {path!r} is binary; read_file reads only UTF-8 text files",
            tool="read_file",
            detail={"path": path},
        )
    truncated = size > MAX_READ_BYTES
    try:
        content = data.decode("utf-8") if not truncated else _decode_prefix(data)
    except UnicodeDecodeError:
        raise ToolArgumentError(
            f"file {path!r} is not UTF-8 text; read_file reads only UTF-8 text files",
            tool="read_file",
            detail={"path": path},
        ) from None
    relative = target.relative_to(ctx.workspace.resolve()).as_posix()
    return {"path": relative, "content": content, "truncated": truncated, "bytes": size}


def _decode_prefix(data: bytes) -> str:
    """Decode a truncated UTF-8 prefix, dropping a multi-byte character cut at the end."""
    for cut in range(4):
        try:
            return data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8")  # raises: the data is not UTF-8


@tool(idempotent=True, timeout_ms=5_000)
def list_files(
    ctx: ToolContext,
    folder: Annotated[str, Field(min_length=1, max_length=1024)] = ".",
) -> dict[str, Any]:
    """List the files and folders (directory entries) in a workspace folder.

    Args:
        folder: The folder's path relative to the workspace root; "." is the root.
    """
    target = confine(ctx.workspace, folder, tool_name="list_files")
    if not target.is_dir():
        raise _not_found(folder, "list_files", "folder")
    root = ctx.workspace.resolve()
    children = sorted(target.iterdir(), key=lambda p: p.name)
    entries = [
        {
            "name": child.name,
            "path": (target / child.name).relative_to(root).as_posix(),
            "type": "dir" if child.is_dir() else "file",
            "bytes": child.stat().st_size if child.is_file() else None,
        }
        for child in children[:MAX_LIST_ENTRIES]
    ]
    return {
        "folder": target.relative_to(root).as_posix(),
        "entries": entries,
        "truncated": len(children) > MAX_LIST_ENTRIES,
    }


BUILTIN_TOOLS: tuple[Tool, ...] = (calculator, current_datetime, read_file, list_files)


def builtin_registry(*extra: Tool) -> ToolRegistry:
    """A registry of the built-in tools, plus any ``extra`` tools."""
    return ToolRegistry((*BUILTIN_TOOLS, *extra))
