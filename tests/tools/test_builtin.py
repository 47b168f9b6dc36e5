"""The built-in tools: calculator, current_datetime, read_file and list_files."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.errors import ToolArgumentError, ToolError
from tether.tools import (
    BUILTIN_TOOLS,
    ToolContext,
    ToolExecutor,
    builtin_registry,
    calculator,
    current_datetime,
    list_files,
    read_file,
)
from tether.types import ToolCall


def calc(expression: str) -> float | int:
    result = calculator.fn(expression=expression)["result"]
    assert isinstance(result, int | float)
    return result


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("17 * 23", 391),
        ("(1 + 2) * 3 - 4 / 2", 7.0),
        ("7 // 2 + 7 % 2", 4),
        ("2 ** 10", 1024),
        ("-3 + +5", 2),
        ("sqrt(144)", 12.0),
        ("abs(-4.5)", 4.5),
        ("round(3.14159, 2)", 3.14),
        ("min(4, 2, 8) + max(1, 9)", 11),
        ("floor(2.7) + ceil(2.1)", 5),
        ("log(e)", 1.0),
        ("exp(0)", 1.0),
        ("sin(0) + cos(0) + tan(0)", 1.0),
        ("2 * pi", 2 * math.pi),
        ("2 ** -1", 0.5),
    ],
)
def test_calculator_answers(expression: str, expected: float) -> None:
    assert calc(expression) == pytest.approx(expected)


def test_calculator_result_shape() -> None:
    assert calculator.fn(expression="1+1") == {"expression": "1+1", "result": 2}
    assert calculator.contract.input_schema["properties"]["expression"]["maxLength"] == 200


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os')", "not allowed"),
        ("__import__('os').system('true')", "not allowed"),
        ("(1).__class__", "Attribute"),
        ("[].__class__.__bases__", "Attribute"),
        ("open('/etc/passwd')", "not allowed"),
        ("x + 1", "'x' is not allowed"),
        ("2 ** 1000", "exponents are limited"),
        ("9 ** 9 ** 9", "exponents are limited"),
        ("99999999999 ** 99", "digits"),
        ("(10 ** 99) ** 50", "too large"),
        ("10 ** 100 * 10 ** 100 * 10 ** 100 * 10 ** 100", "digits"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("'a' * 3", "not a number"),
        ("1 if 1 else 2", "IfExp"),
        ("lambda: 1", "Lambda"),
        ("1 +", "invalid syntax"),
        ("1e308 * 10", "finite"),
        ("(-8) ** 0.5", "complex"),
        ("1" * 201, "longer than 200"),
    ],
)
def test_calculator_rejects(expression: str, reason: str) -> None:
    with pytest.raises(ToolArgumentError) as info:
        calculator.fn(expression=expression)
    assert reason in str(info.value)
    assert "use only numbers" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.from_regex(r"[0-9a-z+\-*/%().,_ ]{1,40}", fullmatch=True))
def test_calculator_only_raises_tool_errors(expression: str) -> None:
    try:
        result = calculator.fn(expression=expression)
    except ToolError as exc:
        assert isinstance(exc, ToolArgumentError)
    else:
        assert isinstance(result["result"], int | float)
        assert not isinstance(result["result"], bool)


def test_current_datetime_shape() -> None:
    out = current_datetime.fn()
    assert set(out) == {"timezone", "iso", "date", "time", "weekday"}
    assert out["timezone"] == "UTC"
    today = dt.datetime.now(dt.UTC).date()
    assert dt.date.fromisoformat(out["date"]) in {today, today - dt.timedelta(days=1)}
    assert re.fullmatch(r"\d\d:\d\d:\d\d", out["time"])
    assert out["iso"].endswith("+00:00")
    parsed = dt.datetime.fromisoformat(out["iso"])
    assert out["weekday"] == parsed.strftime("%A")


def test_current_datetime_in_a_zone() -> None:
    out = current_datetime.fn(timezone="Asia/Tokyo")
    assert out["timezone"] == "Asia/Tokyo"
    assert dt.datetime.fromisoformat(out["iso"]).utcoffset() == dt.timedelta(hours=9)
    expected = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo")).date()
    assert abs(dt.date.fromisoformat(out["date"]) - expected) <= dt.timedelta(days=1)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", "America"])
def test_current_datetime_unknown_zone(zone: str) -> None:
    with pytest.raises(ToolArgumentError, match="IANA name"):
        current_datetime.fn(timezone=zone)


def test_read_file_reads_text(ctx: ToolContext) -> None:
    (ctx.workspace / "notes").mkdir()
    (ctx.workspace / "notes" / "todo.txt").write_text("buy milk\nÅland ✓\n", encoding="utf-8")
    out = read_file.fn(ctx=ctx, path="notes/todo.txt")
    assert out == {
        "path": "notes/todo.txt",
        "content": "buy milk\nÅland ✓\n",
        "truncated": False,
        "bytes": len("buy milk\nÅland ✓\n".encode()),
    }


def test_read_file_truncates_large_files(ctx: ToolContext) -> None:
    (ctx.workspace / "big.txt").write_text("é" * 40_000, encoding="utf-8")  # 80,000 bytes
    out = read_file.fn(ctx=ctx, path="big.txt")
    assert out["truncated"] is True
    assert out["bytes"] == 80_000
    assert out["content"] == "é" * 32_768


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "notes/../../secret.txt"])
def test_read_file_refuses_escapes(ctx: ToolContext, path: str) -> None:
    (ctx.workspace.parent / "secret.txt").write_text("top secret")
    with pytest.raises(ToolArgumentError, match="escapes the workspace"):
        read_file.fn(ctx=ctx, path=path)


def test_read_file_refuses_symlink_out_of_workspace(ctx: ToolContext, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("private")
    os.symlink(outside, ctx.workspace / "link.txt")
    os.symlink(tmp_path, ctx.workspace / "linkdir")
    with pytest.raises(ToolArgumentError, match="escapes the workspace"):
        read_file.fn(ctx=ctx, path="link.txt")
    with pytest.raises(ToolArgumentError, match="escapes the workspace"):
        read_file.fn(ctx=ctx, path="linkdir/outside.txt")


def test_read_file_follows_symlink_inside_workspace(ctx: ToolContext) -> None:
    (ctx.workspace / "real.txt").write_text("inside")
    os.symlink(ctx.workspace / "real.txt", ctx.workspace / "alias.txt")
    assert read_file.fn(ctx=ctx, path="alias.txt")["content"] == "inside"


def test_read_file_rejects_binary_and_missing(ctx: ToolContext) -> None:
    (ctx.workspace / "blob.bin").write_bytes(b"\x89PNG\x00\x01")
    (ctx.workspace / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(ToolArgumentError, match="binary"):
        read_file.fn(ctx=ctx, path="blob.bin")
    with pytest.raises(ToolArgumentError, match="not UTF-8"):
        read_file.fn(ctx=ctx, path="latin1.txt")
    with pytest.raises(ToolArgumentError, match="does not exist"):
        read_file.fn(ctx=ctx, path="missing.txt")


def test_list_files(ctx: ToolContext) -> None:
    (ctx.workspace / "docs").mkdir()
    (ctx.workspace / "docs" / "a.md").write_text("aa")
    (ctx.workspace / "b.txt").write_text("b")
    root = list_files.fn(ctx=ctx)
    assert root["folder"] == "."
    assert root["truncated"] is False
    assert root["entries"] == [
        {"name": "b.txt", "path": "b.txt", "type": "file", "bytes": 1},
        {"name": "docs", "path": "docs", "type": "dir", "bytes": None},
    ]
    docs = list_files.fn(ctx=ctx, folder="docs")
    assert [e["path"] for e in docs["entries"]] == ["docs/a.md"]
    with pytest.raises(ToolArgumentError, match="escapes the workspace"):
        list_files.fn(ctx=ctx, folder="..")
    with pytest.raises(ToolArgumentError, match="does not exist"):
        list_files.fn(ctx=ctx, folder="nope")


def test_list_files_caps_entries(ctx: ToolContext) -> None:
    for i in range(205):
        (ctx.workspace / f"f{i:03}.txt").write_text("")
    out = list_files.fn(ctx=ctx)
    assert len(out["entries"]) == 200
    assert out["truncated"] is True


def test_builtin_registry() -> None:
    registry = builtin_registry()
    assert registry.names() == sorted(t.name for t in BUILTIN_TOOLS)
    assert registry.names() == ["calculator", "current_datetime", "list_files", "read_file"]
    assert "ctx" not in read_file.contract.input_schema["properties"]
    assert read_file.wants_context == "ctx"


async def test_builtins_through_the_executor(ctx: ToolContext) -> None:
    registry = builtin_registry()
    executor = ToolExecutor()
    (ctx.workspace / "n.txt").write_text("42")
    prepared = executor.prepare(
        registry, ToolCall(id="1", name="Read-File", arguments={"path": "n.txt"})
    )
    outcome = await executor.execute(prepared, ctx)
    assert outcome.ok and outcome.result["content"] == "42"
    escape = executor.prepare(
        registry, ToolCall(id="2", name="read_file", arguments={"path": "../../etc/passwd"})
    )
    refused = await executor.execute(escape, ctx)
    assert refused.error is not None
    assert refused.error["code"] == "invalid_arguments"
    assert "escapes the workspace" in refused.error["message"]
    calc_call = executor.prepare(
        registry, ToolCall(id="3", name="calculator", arguments={"expression": "6*7"})
    )
    assert (await executor.execute(calc_call, ctx)).result == {"expression": "6*7", "result": 42}
