"""The pipeline protocol end to end: each role's output is the next role's input."""

from __future__ import annotations

from pathlib import Path

from tests.team.helpers import kinds, role, script, team_runtime
from tether.team import SuccessMetric, Team
from tether.testing import answer, call
from tether.types import RunStatus


async def test_pipeline_hands_each_output_to_the_next_role(tmp_path: Path) -> None:
    researcher = script(call("calculator", expression="6*7"), answer("Fact: 6*7 is 42."))
    writer = script(answer("The answer is 42."))
    rt = team_runtime(tmp_path, {"researcher": researcher, "writer": writer})
    team = Team(
        name="report",
        protocol="pipeline",
        roles=[
            role("researcher", tools=["calculator"]),
            role("writer", success=SuccessMetric(contains=["42"])),
        ],
    )
    result = await rt.run(team, "What is 6*7?")
    researcher.assert_consumed()
    writer.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == "The answer is 42."
    # the writer saw the researcher's output as its input
    assert "Fact: 6*7 is 42." in (writer.requests[0].messages[-1].content or "")
    events = rt.store.journal.read(result.run_id)
    turns = [e.payload for e in events if e.kind == "team_turn_finished"]
    assert [(t.role, t.status, t.success) for t in turns] == [  # type: ignore[union-attr]
        ("researcher", "succeeded", None),
        ("writer", "succeeded", True),
    ]
    seen = kinds(rt, result.run_id)
    assert seen[0] == "run_started" and seen[-1] == "run_finished"
    assert seen.count("model_request") == 3 and seen.count("tool_call_finished") == 1
    record = rt.store.runs.get(result.run_id)
    assert record.status is RunStatus.SUCCEEDED and record.steps == 3 and record.tool_calls == 1
    rt.close()


async def test_team_run_exports_spans_for_every_role(tmp_path: Path) -> None:
    from tether.testing.spans import SpanCapture

    capture = SpanCapture()
    researcher = script(call("calculator", expression="6*7"), answer("42"))
    writer = script(answer("It is 42."))
    rt = team_runtime(tmp_path, {"researcher": researcher, "writer": writer})
    rt.tracer_provider = capture.provider
    team = Team(
        name="report",
        protocol="pipeline",
        roles=[role("researcher", tools=["calculator"]), role("writer")],
    )
    result = await rt.run(team, "What is 6*7?")
    assert result.status is RunStatus.SUCCEEDED
    names = capture.names()
    assert sum(n.startswith("chat") for n in names) == 3
    assert sum(n.startswith("execute_tool") for n in names) == 1
    capture.close()
    rt.close()
