"""The agent loop on the scripted model: journal shape, caps, no-progress, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.agent_helpers import agent, make_runtime, scripted
from tether import tool
from tether.agent.state import RunState
from tether.errors import ModelError
from tether.testing import ScriptStep, answer, call, calls
from tether.types import RunStatus


def kinds(rt: Any, run_id: str) -> list[str]:
    return [e.kind for e in rt.store.journal.read(run_id)]


async def test_tool_call_then_answer_is_journaled(tmp_path: Path) -> None:
    model = scripted(call("calculator", expression="17*23+4"), answer("It is 395."))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "What is 17*23+4?")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == "It is 395."
    assert (result.steps, result.tool_calls) == (2, 1)
    assert kinds(rt, result.run_id) == [
        "run_started",
        "policy_decision",
        "model_request",
        "model_response",
        "budget_charged",
        "policy_decision",
        "tool_call_started",
        "tool_call_finished",
        "budget_charged",
        "policy_decision",
        "model_request",
        "model_response",
        "budget_charged",
        "run_finished",
    ]
    events = rt.store.journal.read(result.run_id)
    started = events[6].payload
    finished = events[7].payload
    assert started.arguments == {"expression": "17*23+4"}  # type: ignore[union-attr]
    assert started.validated  # type: ignore[union-attr]
    assert finished.ok and finished.result["result"] == 395  # type: ignore[union-attr]
    # the second model request saw the tool result
    second = model.requests[1]
    assert any("395" in (getattr(m, "content", "") or "") for m in second.messages)
    record = rt.store.runs.get(result.run_id)
    assert record.status is RunStatus.SUCCEEDED and record.tool_calls == 1
    rt.close()


async def test_replayed_state_equals_live_state(tmp_path: Path) -> None:
    model = scripted(
        calls(("calculator", {"expression": "1+1"}), ("current_datetime", {"timezone": "UTC"})),
        answer("done"),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "add and date")
    replayed = RunState.replay(result.run_id, rt.store.journal.read(result.run_id))
    assert replayed.status is RunStatus.SUCCEEDED
    assert (replayed.steps, replayed.tool_calls, replayed.usage) == (
        result.steps,
        result.tool_calls,
        result.usage,
    )
    assert [m.kind for m in replayed.messages] == ["user", "assistant", "tool", "tool", "assistant"]
    rt.close()


async def test_max_steps_stops_the_run(tmp_path: Path) -> None:
    model = scripted(*(call("calculator", expression=f"{i}+1") for i in range(3)))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(max_steps=3), "count")
    model.assert_consumed()
    assert result.status is RunStatus.MAX_STEPS
    assert result.status.exit_code == 3
    assert "max_steps=3" in (result.reason or "")
    rt.close()


async def test_no_progress_detector_stops_identical_calls(tmp_path: Path) -> None:
    model = scripted(call("calculator", expression="2*2"), repeat_last=True)
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(max_identical_calls=2, max_steps=10), "loop")
    assert result.status is RunStatus.NO_PROGRESS
    assert result.tool_calls == 2  # the third identical call was never executed
    assert result.steps == 3
    rt.close()


async def test_tool_call_cap_is_a_budget_stop(tmp_path: Path) -> None:
    model = scripted(
        calls(
            ("calculator", {"expression": "1"}),
            ("calculator", {"expression": "2"}),
            ("calculator", {"expression": "3"}),
        )
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(max_tool_calls=2), "many")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert result.tool_calls == 0
    rt.close()


async def test_token_cap_is_a_budget_stop(tmp_path: Path) -> None:
    model = scripted(call("calculator", expression="1+2"), answer("3"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(max_tokens=1), "tokens")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert result.steps == 1
    rt.close()


async def test_invalid_arguments_never_reach_the_tool(tmp_path: Path) -> None:
    seen: list[int] = []

    @tool
    def double(n: int) -> int:
        """Double a number.

        Args:
            n: the number
        """
        seen.append(n)
        return 2 * n

    model = scripted(call("double", n="seven"), call("double", n=7), answer("14"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(double), "double seven")
    assert result.status is RunStatus.SUCCEEDED
    assert seen == [7]
    events = rt.store.journal.read(result.run_id)
    rejected = [e.payload for e in events if e.kind == "tool_call_finished"][0]
    assert not rejected.ok  # type: ignore[union-attr]
    assert rejected.error["code"] == "invalid_arguments"  # type: ignore[union-attr,index]
    first_start = [e.payload for e in events if e.kind == "tool_call_started"][0]
    assert first_start.validated is False  # type: ignore[union-attr]
    # the model saw a structured error it can act on
    tool_msg = [m for m in model.requests[1].messages if m.kind == "tool"][0]
    assert "invalid_arguments" in tool_msg.content  # type: ignore[union-attr]
    rt.close()


async def test_unknown_tool_name_is_a_structured_error_not_a_crash(tmp_path: Path) -> None:
    model = scripted(
        call("calculater", expression="1+1"), call("Calculator", expression="1+1"), answer("2")
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "add")
    assert result.status is RunStatus.SUCCEEDED
    finished = [
        e.payload for e in rt.store.journal.read(result.run_id) if e.kind == "tool_call_finished"
    ]
    assert finished[0].error["code"] == "unknown_tool"  # type: ignore[union-attr,index]
    assert "calculator" in finished[0].error["did_you_mean"]  # type: ignore[union-attr,index]
    assert finished[1].ok and finished[1].tool == "calculator"  # type: ignore[union-attr]
    rt.close()


async def test_model_error_fails_the_run_cleanly(tmp_path: Path) -> None:
    model = scripted(ScriptStep(raises=ModelError("provider unavailable")))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "x")
    assert result.status is RunStatus.FAILED
    assert "provider unavailable" in (result.reason or "")
    assert kinds(rt, result.run_id)[-1] == "run_finished"
    assert rt.store.runs.get(result.run_id).status is RunStatus.FAILED
    rt.close()


async def test_internal_crash_still_leaves_a_final_displayable_run(tmp_path: Path) -> None:
    model = scripted(ScriptStep(raises=RuntimeError("boom")))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "x")
    assert result.status is RunStatus.FAILED
    assert "RuntimeError: boom" in (result.reason or "")
    rt.close()


async def test_empty_answer_is_a_failure(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, scripted(answer("  ")))
    result = await rt.run(agent(), "x")
    assert result.status is RunStatus.FAILED
    rt.close()


async def test_secret_in_tool_result_never_reaches_the_journal(tmp_path: Path) -> None:
    planted = "sk-live-9f8e7d6c5b4a39281726354453627181"

    @tool
    def fetch_config() -> dict[str, str]:
        """Fetch the service configuration."""
        return {"endpoint": "https://api.example.test", "note": f"use key {planted}"}

    @tool
    def vault() -> str:
        """Read the vault."""
        return "the vault says hunter2-correct-horse"

    model = scripted(call("fetch_config"), call("vault"), answer("configured"))
    rt = make_runtime(tmp_path, model, secrets={"db_password": "hunter2-correct-horse"})
    result = await rt.run(agent(fetch_config, vault), "configure")
    assert result.status is RunStatus.SUCCEEDED
    # the model never saw them either: it sees what the journal holds
    prompt = " ".join(str(getattr(m, "content", "")) for m in model.requests[-1].messages)
    assert planted not in prompt and "hunter2-correct-horse" not in prompt
    rt.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "home").glob("tether.db*"))
    assert planted.encode() not in raw
    assert b"hunter2-correct-horse" not in raw
    assert b"REDACTED" in raw


@pytest.mark.parametrize("n_calls", [1, 3])
async def test_parallel_calls_get_distinct_idempotency_keys(tmp_path: Path, n_calls: int) -> None:
    pairs = [("calculator", {"expression": f"{i}*2"}) for i in range(n_calls)]
    model = scripted(calls(*pairs), answer("ok"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "double")
    keys = {
        e.payload.idempotency_key
        for e in rt.store.journal.read(result.run_id)  # type: ignore[union-attr]
        if e.kind == "tool_call_started"
    }
    assert len(keys) == n_calls
    rt.close()


async def test_a_cancel_during_a_tool_call_stops_the_run_before_the_next_model_call(
    tmp_path: Path,
) -> None:
    """The pre-step check before the next model call sees a cancel made during a tool call."""
    holder: dict[str, Any] = {}

    @tool
    def cancel_me(n: int) -> dict[str, int]:
        """Mark the run cancelled, as `tether runs cancel` would while the tool runs.

        Args:
            n: any number
        """
        holder["rt"].store.runs.update(holder["run_id"], status=RunStatus.CANCELLED)
        return {"n": n}

    model = scripted(call("cancel_me", n=1), answer("never asked"))
    rt = make_runtime(tmp_path, model)
    holder["rt"] = rt
    ctx = await rt.start(agent(cancel_me), "cancel yourself")
    holder["run_id"] = ctx.run_id
    await rt.drive(ctx)
    assert len(model.requests) == 1
    assert ctx.state.status is RunStatus.CANCELLED
    assert kinds(rt, ctx.run_id)[-4:] == [
        "tool_call_started",
        "tool_call_finished",
        "budget_charged",
        "run_finished",
    ]
    assert rt.store.runs.get(ctx.run_id).status is RunStatus.CANCELLED
    rt.close()


async def test_a_cancel_before_the_first_step_is_read_from_the_store(tmp_path: Path) -> None:
    model = scripted(answer("never asked"))
    rt = make_runtime(tmp_path, model)
    ctx = await rt.start(agent(), "do nothing")
    rt.store.runs.update(ctx.run_id, status=RunStatus.KILLED)
    await rt.drive(ctx)
    assert model.requests == []
    assert ctx.state.status is RunStatus.KILLED
    rt.close()
