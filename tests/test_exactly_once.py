"""Exactly once, or a person decides: SIGKILL a real `tether run` before, during and after a
write tool's effect, then resume in another process. Idempotent tools are re-sent with the same
key, reconcilable ones are asked, the rest stop in `needs_review`; no effect ever happens twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.test_durable import STEPS, Env

TOOLS = {"bump": "idempotent", "pay_checked": "reconcile", "pay": "plain"}


def agent_file(tmp: Path, tool: str) -> str:
    path = tmp / f"{tool}.yaml"
    path.write_text(
        f"name: {tool.replace('_', '-')}\nmodel: python:tests.durable_models:model\n"
        f"tools: ['tests.durable_models:{tool}']\nlimits: {{max_steps: 20, max_tool_calls: 20}}\n"
    )
    return str(path)


@pytest.mark.parametrize("point", ["tool:1", "after:1"], ids=["before-effect", "after-effect"])
@pytest.mark.parametrize("tool", list(TOOLS))
def test_resume_after_a_crash_in_a_write_never_repeats_it(
    tmp_path: Path, tool: str, point: str
) -> None:
    env = Env(tmp_path, TETHER_TEST_TOOL=tool)
    crashed = env.tether(
        "run", "--agent", agent_file(tmp_path, tool), "pay up", TETHER_TEST_KILL=point
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    run_id = str(env.only_run()["run_id"])
    time.sleep(2.0)  # the dead executor's lease expires
    resumed = env.tether("runs", "resume", run_id, "--json")
    effects = env.lines("effects")
    assert len(effects) == len(set(effects)), effects  # never twice
    record = json.loads(resumed.stdout)
    if TOOLS[tool] == "plain":
        assert resumed.returncode == 2, resumed.stderr  # needs_review exits 2
        assert record["status"] == "needs_review"
        assert "neither idempotent nor reconcilable" in record["reason"]
        assert effects == (["0", "1"] if point == "after:1" else ["0"])
        return
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert record["status"] == "succeeded"
    assert effects == [str(n) for n in range(STEPS)]
    finished = [e["payload"] for e in env.events(run_id) if e["kind"] == "tool_call_finished"]
    reconciled = [p["reconciled"] for p in finished]
    assert reconciled == [False, TOOLS[tool] == "reconcile" and point == "after:1", False, False]
