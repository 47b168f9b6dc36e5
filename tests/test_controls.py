"""Operator controls in one process, on the scripted model: tool and agent kill switches,
pause, and steering (what the model sees, and that a replay folds it in the same place)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.agent_helpers import agent, make_runtime, scripted
from tether import ToolContext, tool
from tether.agent.state import OPERATOR_MARK, RunState
from tether.cli.main import app
from tether.errors import UsageError
from tether.governance import operator
from tether.testing import answer, call
from tether.types import RunStatus, ToolResultMessage, UserMessage


async def test_a_killed_tool_answers_tool_killed_and_the_run_goes_on(tmp_path: Path) -> None:
    model = scripted(call("calculator", expression="1+1"), answer("I could not calculate."))
    rt = make_runtime(tmp_path, model)
    done = operator.kill(rt, "tool", "calculator", "wrong results")
    assert done.created and done.switch.scope == "tool"
    result = await rt.run(agent(), "What is 1+1?")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED
    seen = [m for m in model.requests[1].messages if isinstance(m, ToolResultMessage)]
    assert len(seen) == 1 and seen[0].is_error
    assert '"code": "tool_killed"' in seen[0].content and "wrong results" in seen[0].content
    kinds = [e.kind for e in rt.store.journal.read(result.run_id)]
    assert kinds.count("budget_charged") == 2  # the two model calls; the refused call is free
    assert operator.lift(rt, "tool", "calculator")[0].lifted_at is not None
    assert rt.store.controls.active() == []
    rt.close()


async def test_an_agent_kill_refuses_its_runs_before_the_first_step(tmp_path: Path) -> None:
    model = scripted()
    rt = make_runtime(tmp_path, model)
    operator.kill(rt, "agent", "test-agent", "misbehaving")
    other = operator.kill(rt, "agent", "test-agent", "again")
    assert not other.created  # the same switch stays; no second one
    result = await rt.run(agent(), "anything")
    assert result.status is RunStatus.KILLED and model.requests == []
    assert result.reason is not None
    assert "kill switch on agent 'test-agent' (misbehaving)" in result.reason
    assert "tether kill --agent test-agent --lift" in result.reason
    with pytest.raises(UsageError, match="not both"):
        operator.scope_of("a", "t")
    rt.close()


async def test_a_tenants_switch_names_the_command_that_lifts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = scripted()
    rt = make_runtime(tmp_path, model)
    operator.kill(rt, "agent", "test-agent", "alpha only", tenant="alpha")
    result = await rt.run(agent(), "anything", tenant="alpha")
    assert result.status is RunStatus.KILLED and model.requests == []
    assert result.reason is not None and "of tenant 'alpha'" in result.reason
    command = re.search(r"`(tether kill [^`]+)`", result.reason)
    assert command is not None
    assert command.group(1) == "tether kill --agent test-agent --tenant alpha --lift"
    rt.close()
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    cli = CliRunner()
    without = cli.invoke(app, ["kill", "--agent", "test-agent", "--lift"])
    assert without.exit_code != 0 and "no active agent 'test-agent'" in without.output
    lifted = cli.invoke(app, shlex.split(command.group(1))[1:])  # the message's own command
    assert lifted.exit_code == 0 and "lifted 1" in lifted.output, lifted.output
    again = make_runtime(tmp_path, model)
    assert again.store.controls.active() == []
    again.close()


async def test_a_kill_during_a_run_stops_it_before_its_next_step(tmp_path: Path) -> None:
    model = scripted(call("switch_off"), answer("never asked"))
    rt = make_runtime(tmp_path, model)

    @tool
    def switch_off() -> str:
        """Pull the global kill switch, as an operator in another process would."""
        operator.kill(rt, "global", "", "stop everything")
        return "pulled"

    result = await rt.run(agent(switch_off), "stop")
    assert result.status is RunStatus.KILLED
    assert len(model.requests) == 1
    events = rt.store.journal.read(result.run_id)
    kinds = [e.kind for e in events]
    assert kinds.index("kill_switch") < kinds.index("run_finished") == len(kinds) - 1
    assert "model_request" not in kinds[kinds.index("kill_switch") :]
    rt.close()


async def test_steer_reaches_the_next_request_marked_and_replays_the_same(tmp_path: Path) -> None:
    model = scripted(call("checkpoint"), answer("In Celsius: 20."))
    rt = make_runtime(tmp_path, model)

    @tool
    def checkpoint(ctx: ToolContext) -> str:
        """A step after which an operator steers the run."""
        operator.steer(rt, ctx.run_id, "answer in Celsius")
        return "ok"

    ctx = await rt.start(agent(checkpoint), "What is the temperature?")
    await rt.drive(ctx)
    model.assert_consumed()
    assert ctx.state.status is RunStatus.SUCCEEDED
    first, second = model.requests
    marked = UserMessage(content=f"{OPERATOR_MARK} answer in Celsius", origin="operator")
    assert marked not in first.messages
    assert second.messages[-1] == marked  # after the tool result, before the model's turn
    replayed = RunState.replay(ctx.run_id, rt.store.journal.read(ctx.run_id))
    assert replayed.messages == ctx.state.messages
    assert replayed.operator_seen == ctx.state.operator_seen > 0
    with pytest.raises(UsageError, match="already succeeded"):
        operator.steer(rt, ctx.run_id, "too late")
    rt.close()


async def test_a_pause_request_ends_the_segment_with_run_paused(tmp_path: Path) -> None:
    model = scripted(call("checkpoint"), answer("never asked"))
    rt = make_runtime(tmp_path, model)

    @tool
    def checkpoint(ctx: ToolContext) -> str:
        """A step after which an operator pauses the run."""
        assert rt.store.controls.request_status(
            ctx.run_id, RunStatus.PAUSED, when=(RunStatus.RUNNING,)
        )
        return "ok"

    result = await rt.run(agent(checkpoint), "pause me")
    assert result.status is RunStatus.PAUSED and len(model.requests) == 1
    kinds = [e.kind for e in rt.store.journal.read(result.run_id)]
    assert kinds[-1] == "run_paused" and "run_finished" not in kinds
    record = rt.store.runs.get(result.run_id)
    assert record.status is RunStatus.PAUSED and record.finished_at is None
    replayed = RunState.replay(result.run_id, rt.store.journal.read(result.run_id))
    assert replayed.status is RunStatus.PAUSED and replayed.steps == 1
    rt.close()
