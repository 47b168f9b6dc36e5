"""Cost accounting: each tool call's declared cost and each model call's token cost are
charged to the run and reported per tool and per model (``tether runs show RUN``)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tether import Agent, Runtime, tool
from tether.agent.spec import Limits
from tether.costs import cost_report
from tether.errors import ModelUnavailable
from tether.settings import Settings
from tether.testing import ScriptedModel, ScriptStep, answer, call, calls

from .test_cli import tether


def test_tool_and_model_costs_are_charged_per_tool_and_per_model(tmp_path: Path) -> None:
    @tool(cost="0.25")
    def enrich(company: str) -> str:
        """Look a company up in a paid data source."""
        return f"{company}: 120 staff"

    @tool
    def note(text: str) -> str:
        """Take a free note."""
        return "noted"

    primary = ScriptedModel(
        model_id="scripted",
        steps=[
            ScriptStep(
                tool_calls=calls(
                    ("enrich", {"company": "Acme"}),
                    ("enrich", {"company": "Initech"}),
                    ("enrich", {"company": 42}),  # invalid: rejected, never runs, costs nothing
                ).tool_calls,
                cost=Decimal("0.010"),
            ),
            ScriptStep(tool_calls=call("note", text="done").tool_calls, cost=Decimal("0.020")),
            ScriptStep(raises=ModelUnavailable("primary is down")),
        ],
    )
    backup = ScriptedModel(
        model_id="backup", steps=[ScriptStep(text="Acme and Initech", cost=Decimal("0.004"))]
    )
    settings = Settings(home=tmp_path / "home", workspace=tmp_path)
    rt = Runtime(settings=settings, models={"scripted": primary, "backup": backup})
    agent = Agent(
        name="costly", model="scripted", fallback=["backup"], tools=[enrich, note], preselect_k=8
    )
    result = rt.run_sync(agent, "size up Acme and Initech")
    events = rt.store.journal.read(result.run_id)
    record = rt.store.runs.get(result.run_id)
    rt.close()
    primary.assert_consumed()
    backup.assert_consumed()

    assert result.cost == Decimal("0.534")  # 0.010 + 0.020 + 0.004 + 2 x 0.25
    assert record.cost == Decimal("0.534")
    report = cost_report(events).to_json()
    assert report["total"] == "0.534"
    assert report["models"]["scripted"]["calls"] == 2
    assert report["models"]["scripted"]["cost"] == "0.030"
    assert report["models"]["backup"] == {
        "calls": 1,
        "input_tokens": report["models"]["backup"]["input_tokens"],
        "output_tokens": report["models"]["backup"]["output_tokens"],
        "cost": "0.004",
    }
    assert report["tools"] == {
        "enrich": {"calls": 3, "cost": "0.50"},
        "note": {"calls": 1, "cost": "0"},
    }

    shown = tether(tmp_path, "runs", "show", result.run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["cost"] == "0.534"
    assert body["costs"] == report
    text = tether(tmp_path, "runs", "show", result.run_id)
    assert text.returncode == 0, text.stderr
    assert "cost 0.534" in text.stdout
    assert "tool enrich: 0.50 (3 calls)" in text.stdout
    assert "model backup: 0.004 (1 calls)" in text.stdout


def test_cached_calls_cost_nothing(tmp_path: Path) -> None:
    @tool(cost="1", idempotent=True)
    def quote(symbol: str) -> float:
        """A paid, cacheable price quote."""
        return 1.5

    model = ScriptedModel(
        steps=[call("quote", symbol="X"), call("quote", symbol="X"), answer("1.5")]
    )
    settings = Settings(home=tmp_path / "home", workspace=tmp_path)
    rt = Runtime(settings=settings, models={"scripted": model})
    agent = Agent(
        name="quotes", model="scripted", tools=[quote], limits=Limits(max_identical_calls=3)
    )
    result = rt.run_sync(agent, "quote X twice")
    events = rt.store.journal.read(result.run_id)
    rt.close()
    finished = [e.payload for e in events if e.kind == "tool_call_finished"]
    assert [f.cached for f in finished] == [False, True]  # type: ignore[union-attr]
    assert result.cost == Decimal("1")
    assert cost_report(events).tools["quote"].calls == 2
