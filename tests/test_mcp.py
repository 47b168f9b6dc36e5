"""MCP both ways, over real stdio subprocesses (no network).

* tether as an MCP client: the reference servers ``mcp-server-time`` and ``mcp-server-git``
  become tether tools an agent on the scripted model calls.
* tether as an MCP server: the official ``mcp`` client lists and calls tether's built-ins.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tether import Agent
from tether.errors import ConfigError, ToolError
from tether.testing import answer, call
from tether.tools.contract import ToolContract
from tether.tools.mcp_client import (
    McpToolset,
    mcp_tools,
    normalize_input_schema,
    sanitize_tool_name,
    tool_result_value,
)

from .agent_helpers import make_runtime, scripted

TIME_SERVER = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]
TETHER_SERVER = [sys.executable, "-m", "tether.cli", "mcp", "serve"]  # `tether mcp serve`


def finished_payloads(rt: Any, run_id: str) -> list[Any]:
    # in call order: a step's parallel reads are journaled as they finish
    events = [e for e in rt.store.journal.read(run_id) if e.kind == "tool_call_finished"]
    return [e.payload for e in sorted(events, key=lambda e: (e.key.step, e.key.index))]


@pytest.fixture
async def time_tools() -> AsyncIterator[McpToolset]:
    toolset = await mcp_tools(TIME_SERVER)
    async with toolset:
        yield toolset


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "test@example.com")
    git("config", "user.name", "Test")
    (repo / "hello.txt").write_text("hello\n")
    git("add", "hello.txt")
    git("commit", "-q", "-m", "first")
    (repo / "new.txt").write_text("untracked\n")
    return repo


@pytest.fixture
async def git_tools(git_repo: Path) -> AsyncIterator[McpToolset]:
    toolset = await mcp_tools(
        [sys.executable, "-m", "mcp_server_git", "--repository", str(git_repo)]
    )
    async with toolset:
        yield toolset


# -- tether as a client -------------------------------------------------------------------------


async def test_time_server_tools_become_tether_tools(time_tools: McpToolset) -> None:
    names = {t.name for t in time_tools.tools}
    assert {"get_current_time", "convert_time"} <= names
    contract = time_tools["get_current_time"].contract
    assert contract.side_effect == "read"  # readOnlyHint
    assert contract.input_schema["additionalProperties"] is False
    assert "timezone" in contract.input_schema["properties"]


async def test_agent_calls_get_current_time(tmp_path: Path, time_tools: McpToolset) -> None:
    model = scripted(call("get_current_time", timezone="UTC"), answer("ok"))
    rt = make_runtime(tmp_path, model)
    clock = Agent(
        name="clock", instructions="Tell the time.", model="scripted", tools=time_tools.tools
    )
    result = await rt.run(clock, "What time is it in UTC?")
    model.assert_consumed()
    assert result.output == "ok"
    [finished] = finished_payloads(rt, result.run_id)
    assert finished.ok, finished
    assert finished.result["timezone"] == "UTC"
    assert finished.result["datetime"][:2] == "20"  # an ISO timestamp
    rt.close()


async def test_mcp_error_result_is_a_structured_tool_error(
    tmp_path: Path, time_tools: McpToolset
) -> None:
    with pytest.raises(ToolError, match="Invalid timezone"):
        await time_tools["get_current_time"].fn(timezone="Not/AZone")
    model = scripted(call("get_current_time", timezone="Not/AZone"), answer("sorry"))
    rt = make_runtime(tmp_path, model)
    clock = Agent(
        name="clock", instructions="Tell the time.", model="scripted", tools=time_tools.tools
    )
    result = await rt.run(clock, "time on Mars?")
    [finished] = finished_payloads(rt, result.run_id)
    assert not finished.ok
    assert finished.error["code"] == "tool_error"
    assert "Invalid timezone" in finished.error["message"]
    rt.close()


async def test_git_server_tools_and_tiers(git_tools: McpToolset) -> None:
    names = {t.name for t in git_tools.tools}
    assert {"git_status", "git_add", "git_commit", "git_log"} <= names
    tier = {t.name: t.contract.side_effect for t in git_tools.tools}
    assert tier["git_status"] == "read"
    assert tier["git_log"] == "read"
    assert tier["git_add"] == "write"
    assert tier["git_commit"] == "write"
    assert tier["git_reset"] == "high_risk"  # destructiveHint


async def test_agent_calls_git_status(
    tmp_path: Path, git_repo: Path, git_tools: McpToolset
) -> None:
    model = scripted(call("git_status", repo_path=str(git_repo)), answer("clean-ish"))
    rt = make_runtime(tmp_path, model)
    gitter = Agent(
        name="gitter",
        instructions="Inspect the repo.",
        model="scripted",
        tools=[git_tools["git_status"], git_tools["git_log"]],
    )
    result = await rt.run(gitter, "status?")
    model.assert_consumed()
    [finished] = finished_payloads(rt, result.run_id)
    assert finished.ok, finished
    assert "new.txt" in finished.result  # the untracked file
    rt.close()


async def test_side_effect_overrides_and_prefix(git_repo: Path) -> None:
    toolset = await mcp_tools(
        [sys.executable, "-m", "mcp_server_git", "--repository", str(git_repo)],
        prefix="repo.",
        write_tools={"git_log"},
        read_tools={"git_add"},
        side_effects={"repo_git_reset": "write"},
    )
    async with toolset:
        tier = {t.name: t.contract.side_effect for t in toolset.tools}
        assert tier["repo_git_log"] == "write"
        assert tier["repo_git_add"] == "read"
        assert tier["repo_git_reset"] == "write"
        assert toolset.mcp_names["repo_git_status"] == "git_status"
        status = await toolset["repo_git_status"].fn(repo_path=str(git_repo))
        assert "new.txt" in status
    await toolset.aclose()  # idempotent


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-c", "import sys; sys.exit(3)"], ["/nonexistent/mcp-server"]],
)
async def test_a_server_that_does_not_start_is_a_config_error(command: list[str]) -> None:
    with pytest.raises(ConfigError, match="did not start"):
        await mcp_tools(command)


async def test_toolset_closes_from_another_task() -> None:
    toolset = await mcp_tools(TIME_SERVER)
    await asyncio.create_task(toolset.aclose())
    with pytest.raises(ToolError, match="no longer connected"):
        await toolset["get_current_time"].fn(timezone="UTC")


async def test_cancelled_startup_leaves_no_server_behind() -> None:
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]  # never answers initialize
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            await mcp_tools(slow)


def test_sanitize_tool_name() -> None:
    assert sanitize_tool_name("get-time.now") == "get_time_now"
    assert sanitize_tool_name("9lives") == "_9lives"
    assert sanitize_tool_name("x" * 80, prefix="srv:") == ("srv_" + "x" * 80)[:64]
    assert sanitize_tool_name("ok", prefix="fs/") == "fs_ok"


def test_normalize_input_schema_keeps_the_original() -> None:
    original: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a", "ghost"],
    }
    schema = normalize_input_schema(original)
    assert schema["additionalProperties"] is False and schema["required"] == ["a"]
    assert "additionalProperties" not in original
    ToolContract(name="t", description="d", input_schema=schema)  # accepted
    with pytest.raises(ConfigError):
        ToolContract(name="t", description="d", input_schema=original)
    assert normalize_input_schema({"type": "object"})["properties"] == {}


def test_tool_result_value() -> None:
    text = mcp_types.TextContent(type="text", text="hi")
    plain = mcp_types.CallToolResult(content=[text, text])
    assert tool_result_value(plain, tool="t", mcp_name="t") == "hi\nhi"
    structured = mcp_types.CallToolResult(content=[text], structured_content={"x": 1})
    assert tool_result_value(structured, tool="t", mcp_name="t") == {"x": 1}
    failed = mcp_types.CallToolResult(content=[text], is_error=True)
    with pytest.raises(ToolError, match="reported an error: hi"):
        tool_result_value(failed, tool="t", mcp_name="t")


# -- tether as a server --------------------------------------------------------------------------


@asynccontextmanager
async def tether_session() -> AsyncIterator[ClientSession]:
    """The official client on ``tether mcp serve``; entered in the test's own task, because
    anyio cancel scopes (held by ``stdio_client``) cannot be left from another task, as a
    pytest-asyncio async-generator fixture's teardown would."""
    params = StdioServerParameters(command=TETHER_SERVER[0], args=TETHER_SERVER[1:])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_tether_serve_lists_builtin_tools() -> None:
    async with tether_session() as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
    assert {"calculator", "current_datetime", "read_file", "list_files"} <= set(listed)
    calc = listed["calculator"]
    assert calc.input_schema["additionalProperties"] is False
    assert "expression" in calc.input_schema["properties"]
    assert calc.annotations is not None and calc.annotations.read_only_hint is True


async def test_tether_serve_calls_calculator() -> None:
    async with tether_session() as session:
        result = await session.call_tool("calculator", {"expression": "6*7"})
    assert not result.is_error
    assert result.structured_content == {"expression": "6*7", "result": 42}
    assert any(isinstance(c, mcp_types.TextContent) and "42" in c.text for c in result.content)


@pytest.mark.parametrize(
    ("name", "arguments", "code"),
    [
        ("calculator", {"expression": 6}, "invalid_arguments"),
        ("calculator", {}, "invalid_arguments"),
        ("calculator", {"expression": "6*7", "extra": 1}, "invalid_arguments"),
        ("no_such_tool", {}, "unknown_tool"),
    ],
)
async def test_tether_serve_bad_calls_are_error_results(
    name: str, arguments: dict[str, Any], code: str
) -> None:
    async with tether_session() as session:
        result = await session.call_tool(name, arguments)
        # the server is still alive afterwards
        ok = await session.call_tool("calculator", {"expression": "1+1"})
    assert result.is_error
    assert result.structured_content is not None
    assert result.structured_content["error"]["code"] == code
    assert not ok.is_error


async def test_round_trip_tether_client_against_tether_server(tmp_path: Path) -> None:
    toolset = await mcp_tools(TETHER_SERVER, prefix="remote_")
    async with toolset:
        calc = toolset["remote_calculator"]
        assert calc.contract.side_effect == "read" and calc.contract.idempotent
        assert await calc.fn(expression="2**10") == {"expression": "2**10", "result": 1024}
        with pytest.raises(ToolError, match="invalid"):
            await calc.fn(expression=5)
