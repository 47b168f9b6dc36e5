"""``isolation="process"``: a sync tool runs in a subprocess that its timeout kills."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests import isolated_tools
from tether.errors import ToolError
from tether.secrets import SecretSource
from tether.tools import ToolContext, ToolExecutor, ToolRegistry, tool
from tether.tools.executor import ToolOutcome
from tether.tools.isolate import tool_reference
from tether.types import ToolCall


async def run(name: str, ctx: ToolContext, **arguments: Any) -> ToolOutcome:
    registry = ToolRegistry([isolated_tools.stubborn, isolated_tools.whoami, isolated_tools.broken])
    executor = ToolExecutor()
    prepared = executor.prepare(registry, ToolCall(id="c1", name=name, arguments=arguments))
    return await executor.execute(prepared, ctx)


async def test_a_tool_that_ignores_its_timeout_is_killed(ctx: ToolContext, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    outcome = await run("stubborn", ctx, pid_file=str(pid_file))
    assert not outcome.ok and outcome.error is not None
    assert outcome.error["code"] == "timeout"
    assert outcome.error["killed"] is True
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left sleeping
        os.kill(pid, 0)


async def test_results_context_and_declared_secrets_cross_the_process(tmp_path: Path) -> None:
    source = SecretSource(static={"vault_read": "s3cr3t-value", "other": "x"})
    ctx = ToolContext(
        run_id="r",
        idempotency_key="key-1",
        call_id="c1",
        workspace=tmp_path,
        secrets=source.for_tool("whoami", ("vault_read",)),
    )
    outcome = await run("whoami", ctx, greeting="hi")
    assert outcome.ok, outcome.error
    assert outcome.result["greeting"] == "hi"
    assert outcome.result["pid"] != os.getpid()
    assert outcome.result["secret_length"] == len("s3cr3t-value")
    assert outcome.result["key"] == "key-1"


async def test_an_error_in_the_subprocess_is_a_structured_error(ctx: ToolContext) -> None:
    outcome = await run("broken", ctx, n=3)
    assert not outcome.ok and outcome.error is not None
    assert outcome.error["code"] == "tool_error"
    assert "ValueError: cannot handle 3" in outcome.error["message"]


def test_a_tool_that_cannot_be_imported_is_refused() -> None:
    @tool(isolation="process")
    def local() -> int:
        """Defined inside a function."""
        return 1

    with pytest.raises(ToolError, match="cannot be imported there"):
        tool_reference(local)
    assert tool_reference(isolated_tools.broken) == "tests.isolated_tools:broken"
