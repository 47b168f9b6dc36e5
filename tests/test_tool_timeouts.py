"""In a run: a sync tool that ignores its timeout is abandoned and the run goes on; a result
that violates the output schema reaches the model as a structured error it can act on. (The
executor-level behaviour is in tests/tools/test_executor.py and test_tool_resilience.py.)"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from tether import Agent, tool
from tether.testing import answer, call
from tether.tools import RetryPolicy
from tether.types import RunStatus, ToolResultMessage

from .agent_helpers import make_runtime, scripted


def errors_shown(requests: Any) -> list[dict[str, Any]]:
    return [
        json.loads(m.content)["error"]
        for m in requests[-1].messages
        if isinstance(m, ToolResultMessage) and m.is_error
    ]


async def test_a_sync_tool_that_ignores_its_timeout_is_abandoned(tmp_path: Path) -> None:
    release = threading.Event()

    @tool(timeout_ms=100, retry=RetryPolicy(max_attempts=1))
    def stuck() -> str:
        """Blocks for 30 s whatever its timeout says (like time.sleep(30))."""
        release.wait(30)
        return "too late"

    @tool
    def fallback_answer() -> str:
        """Answer from a cache."""
        return "cached answer"

    model = scripted(call("stuck"), call("fallback_answer"), answer("from the cache"))
    rt = make_runtime(tmp_path, model)
    helper = Agent(name="t", model="scripted", tools=[stuck, fallback_answer], preselect_k=8)
    try:
        result = await rt.run(helper, "answer")
        # the run finished while the tool's thread still runs: it was abandoned, not awaited
        assert any(t.name == "tether-tool-stuck" and t.is_alive() for t in threading.enumerate())
    finally:
        release.set()
        rt.close()
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == "from the cache"
    [error] = errors_shown(model.requests[:2])
    assert error["code"] == "timeout" and error["timeout_ms"] == 100
    assert "did not finish within 100 ms" in error["message"]


async def test_output_schema_violation_reaches_the_model_as_a_structured_error(
    tmp_path: Path,
) -> None:
    schema = {
        "type": "object",
        "properties": {"total": {"type": "number"}},
        "required": ["total"],
        "additionalProperties": False,
    }

    @tool(output_schema=schema, retry=RetryPolicy(max_attempts=1))
    def invoice_total(invoice: str) -> dict[str, Any]:
        """The total of an invoice."""
        return {"total": "twelve", "currency": "EUR"}

    model = scripted(call("invoice_total", invoice="A-1"), answer("cannot tell"))
    rt = make_runtime(tmp_path, model)
    helper = Agent(name="t", model="scripted", tools=[invoice_total])
    result = await rt.run(helper, "total of A-1?")
    rt.close()
    assert result.status is RunStatus.SUCCEEDED
    [error] = errors_shown(model.requests)
    assert error["code"] == "invalid_output"
    assert "'invoice_total'" in error["message"]
    assert {e["path"] for e in error["errors"]} >= {"$.total"}
