"""Budgets: the pure arithmetic, what the model is told, and runs that exceed each kind of
budget (tokens, money, tool calls, wall time, per tool, per tenant) and stop in
``budget_exceeded`` with what was spent where."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.agent_helpers import make_runtime, scripted
from tests.test_durable import AGENT, STEPS, Env, crash
from tether import Agent, Budget, Runtime, ToolBudget, tool
from tether.agent.spec import Limits, load_agent
from tether.errors import AgentSpecError, ConfigError
from tether.governance import operator
from tether.governance.budget import (
    BudgetLine,
    RunBudgets,
    Spend,
    check,
    left,
    lines,
    tool_estimate,
)
from tether.settings import Settings, load_settings
from tether.testing import FakeClock, answer, calls
from tether.types import ModelRequest, ModelResponse, RunStatus, SystemMessage, ToolCall, Usage


@dataclass(kw_only=True)
class PricedModel:
    """Calls the calculator forever (new arguments each time); 120 tokens and $0.01 a call."""

    requests: list[ModelRequest]
    tool_name: str = "calculator"

    @property
    def id(self) -> str:
        return "priced"

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        n = len(self.requests)
        args: dict[str, Any] = {"expression": f"{n}+1"} if self.tool_name == "calculator" else {}
        return ModelResponse(
            tool_calls=(ToolCall(id=f"c{n}", name=self.tool_name, arguments=args),),
            usage=Usage(input_tokens=100, output_tokens=20),
            cost=Decimal("0.01"),
            model="priced",
        )


def _runtime(tmp_path: Path, model: PricedModel, **settings: Any) -> Runtime:
    clock = settings.pop("clock", None)
    s = Settings(home=tmp_path / "home", workspace=tmp_path, **settings)
    if clock is None:
        return Runtime(settings=s, models={"priced": model})
    return Runtime(settings=s, models={"priced": model}, clock=clock)


def _agent(*tools: Any, model: str = "priced", **fields: Any) -> Agent:
    return Agent(
        name="budgeted",
        model=model,
        tools=list(tools) or ["calculator"],
        limits=Limits(max_steps=100, max_tool_calls=100, max_identical_calls=5),
        preselect_k=8,
        **fields,
    )


def test_check_answers_the_first_budget_that_would_be_exceeded() -> None:
    found = [
        BudgetLine(scope="run", budget=Budget(tokens=100, tool_calls=2), spent=Spend(tokens=99)),
        BudgetLine(scope="tool 'pay'", budget=Budget(money=Decimal("1")), spent=Spend()),
    ]
    assert check(found, Spend(tokens=1)) is None
    over = check(found, Spend(tokens=2))
    assert over is not None and (over.scope, over.kind, over.spent, over.limit) == (
        "run",
        "tokens",
        99,
        100,
    )
    assert check(found, tool_estimate(Decimal("1.5")), tool="other") is None
    pay = check(found, tool_estimate(Decimal("1.5")), tool="pay")
    assert pay is not None and pay.describe() == (
        "tool 'pay' budget of $1.00 would be exceeded (spent $0.00)"
    )
    assert left(found) == "Budget left: 1 tokens, 2 tool calls, per tool: pay $1.00."


def test_tenant_line_adds_the_tenants_other_runs() -> None:
    budgets = RunBudgets(tenant=Budget(tokens=1000), tenant_name="acme")
    (line,) = lines(budgets, Spend(tokens=10, wall_s=5), {}, Spend(tokens=900))
    assert line.scope == "tenant 'acme'" and line.spent == Spend(tokens=910)


async def test_tokens_budget_of_the_run(tmp_path: Path) -> None:
    model = PricedModel(requests=[])
    rt = _runtime(tmp_path, model)
    result = await rt.run(_agent(), "count", budget=Budget(tokens=500))
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert len(model.requests) == 5  # 480 tokens spent leaves room; 600 do not
    assert result.tool_calls == 4  # the 5th response is over the budget: its call is not made
    assert result.reason is not None
    assert result.reason.startswith(
        "run budget of 500 tokens would be exceeded (spent 600 tokens); spent "
        "model priced: 600 tokens, $0.05; tool calculator: 4 calls, $0.00"
    )
    system = model.requests[0].messages[0]
    assert isinstance(system, SystemMessage) and "Budget left: 500 tokens." in system.content
    second = model.requests[1].messages[0]
    assert isinstance(second, SystemMessage) and "Budget left: 380 tokens." in second.content
    finished = rt.store.journal.read(result.run_id, kinds=["run_finished"])[0]
    assert finished.payload.status == "budget_exceeded"  # type: ignore[union-attr]
    rt.close()


async def test_money_budget_of_the_agent_role(tmp_path: Path) -> None:
    model = PricedModel(requests=[])
    rt = _runtime(tmp_path, model)
    result = await rt.run(_agent(budget=Budget(money=Decimal("0.035"))), "count")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert result.reason is not None
    assert "agent 'budgeted' budget of $0.035 would be exceeded (spent $0.04)" in result.reason
    assert "model priced: 480 tokens, $0.04" in result.reason
    assert result.cost == Decimal("0.04")
    rt.close()


async def test_tool_calls_budget(tmp_path: Path) -> None:
    model = PricedModel(requests=[])
    rt = _runtime(tmp_path, model)
    result = await rt.run(_agent(), "count", budget=Budget(tool_calls=2))
    assert result.status is RunStatus.BUDGET_EXCEEDED and result.tool_calls == 2
    assert result.reason is not None
    assert "run budget of 2 tool calls would be exceeded (spent 2 tool calls)" in result.reason
    assert "tool calculator: 2 calls" in result.reason
    rt.close()


async def test_wall_time_budget_on_the_fake_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    model = PricedModel(requests=[], tool_name="slow")

    @tool
    def slow() -> str:
        """Takes ten seconds (of the fake clock)."""
        clock.advance(10)
        return "done"

    rt = _runtime(tmp_path, model, clock=clock)
    result = await rt.run(_agent(slow), "wait", budget=Budget(wall_s=25))
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert result.tool_calls == 3  # 30 s spent: the next model call is not made
    assert len(model.requests) == 3
    assert result.reason is not None
    assert "run budget of 25 s would be exceeded (spent 30 s)" in result.reason
    assert "30.0 s" in result.reason
    rt.close()


async def test_per_tool_budget(tmp_path: Path) -> None:
    model = PricedModel(requests=[])
    rt = _runtime(tmp_path, model)
    agent = _agent(tools_budget={"calculator": ToolBudget(calls=1)})
    result = await rt.run(agent, "count")
    assert result.status is RunStatus.BUDGET_EXCEEDED and result.tool_calls == 1
    assert result.reason is not None
    assert "tool 'calculator' budget of 1 tool calls would be exceeded" in result.reason
    system = model.requests[0].messages[0]
    assert isinstance(system, SystemMessage)
    assert "Budget left: per tool: calculator 1 tool calls." in system.content
    rt.close()


async def test_tenant_budget_spans_the_tenants_runs(tmp_path: Path) -> None:
    model = PricedModel(requests=[])
    rt = _runtime(tmp_path, model, tenant_budgets={"acme": Budget(tokens=300)})
    first = await rt.run(_agent(), "count", tenant="acme", budget=Budget(tokens=240))
    assert first.status is RunStatus.BUDGET_EXCEEDED and first.usage.total_tokens == 240
    assert first.reason is not None and first.reason.startswith("run budget")
    second = await rt.run(_agent(), "count", tenant="acme")
    assert second.status is RunStatus.BUDGET_EXCEEDED and second.usage.total_tokens == 120
    assert second.reason is not None
    assert "tenant 'acme' budget of 300 tokens would be exceeded (spent 360 tokens)" in (
        second.reason
    )
    other = await rt.run(_agent(), "count", tenant="globex", budget=Budget(tokens=240))
    assert other.usage.total_tokens == 240  # another tenant's spend is not counted
    assert rt.store.runs.get(second.run_id).tenant == "acme"
    rt.close()


def test_budget_fields_are_validated_in_the_agent_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\ntools: [calculator]\nbudget: {money: lots}\n")
    with pytest.raises(AgentSpecError, match=r"field 'budget\.money'"):
        load_agent(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("name: u\ntools: [calculator]\ntools_budget: {send_email: {calls: 1}}\n")
    with pytest.raises(AgentSpecError, match=r"'tools_budget\.send_email'.*no tool"):
        load_agent(unknown)
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: g\ntools: [calculator]\nbudget: {tokens: 1000, money: '0.50', wall_s: 60}\n"
        "tools_budget: {calculator: {calls: 3, money: '0.10'}}\n"
    )
    agent = load_agent(good)
    assert agent.budget == Budget(tokens=1000, money=Decimal("0.50"), wall_s=60)
    assert agent.tools_budget["calculator"] == ToolBudget(calls=3, money=Decimal("0.10"))


def _charges(env: Env, run_id: str) -> list[tuple[object, object, object]]:
    return [
        (e["step"], e["index"], e["payload"])
        for e in env.events(run_id)
        if e["kind"] == "budget_charged"
    ]


@pytest.mark.parametrize("point", ["model:2", "after:1"])
def test_nothing_is_charged_twice_after_a_crash(tmp_path: Path, point: str) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "crash").mkdir()
    clean = Env(tmp_path / "clean")
    out = clean.tether("run", "--agent", AGENT, "bump the counter", "--json")
    assert out.returncode == 0, out.stderr
    expected = _charges(clean, json.loads(out.stdout)["run_id"])
    assert len(expected) == 2 * STEPS + 1  # every model call and every tool call, once
    env = Env(tmp_path / "crash")
    run_id = crash(env, point)  # SIGKILL mid-run
    time.sleep(2.0)  # its lease expires
    resumed = env.tether("runs", "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _charges(env, run_id) == expected


def test_tenant_budgets_come_from_tether_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tether.toml").write_text('[tenant_budgets.acme]\ntokens = 5000\nmoney = "2.50"\n')
    settings = load_settings()
    assert settings.tenant_budgets == {"acme": Budget(tokens=5000, money=Decimal("2.50"))}
    (tmp_path / "tether.toml").write_text("[tenant_budgets.acme]\ntokns = 1\n")
    with pytest.raises(ConfigError, match=r"'tenant_budgets\.acme\.tokns' in tether\.toml"):
        load_settings()
    (tmp_path / "tether.toml").write_text("[tenant_budgets\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


async def test_policy_decisions_see_what_the_budget_leaves(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "budget.cedar").write_text(
        '@id("budget.low")\n@reason("too little budget left for tools")\n'
        'forbid (principal, action in [Action::"invoke", Action::"invoke_unattended"], '
        "resource)\nwhen { context has tokens_left && context.tokens_left < 1000 };\n"
    )
    model = PricedModel(requests=[])
    rt = _runtime(tmp_path, model, policies=policies)
    result = await rt.run(_agent(), "count", budget=Budget(tokens=500))
    assert result.status is RunStatus.BUDGET_EXCEEDED
    denied = [
        e.payload
        for e in rt.store.journal.read(result.run_id, kinds=["policy_decision"])
        if e.payload.outcome == "deny"  # type: ignore[union-attr]
    ]
    assert denied, "the tool calls were not denied"
    first = denied[0]
    assert first.reasons == ["budget.low"]  # type: ignore[union-attr]
    assert first.context["tokens_left"] == 380  # type: ignore[union-attr]  # 500 - 120
    rt.close()


async def test_a_batch_is_charged_per_call_and_checked_as_a_whole(tmp_path: Path) -> None:
    batches: list[int] = []

    def lookup_many(arguments: list[dict[str, Any]]) -> list[Any]:
        batches.append(len(arguments))
        return [a["sku"] for a in arguments]

    @tool(batch=lookup_many, cost=Decimal("0.10"))
    def lookup(sku: str) -> str:
        """Look up a SKU."""
        return sku

    def two() -> Any:
        return calls(("lookup", {"sku": "a"}), ("lookup", {"sku": "b"}))

    rt = make_runtime(tmp_path, scripted(two(), answer("ok")))
    fine = await rt.run(_agent(lookup, model="scripted"), "look up a and b")
    assert fine.status is RunStatus.SUCCEEDED and batches == [2]
    charges = rt.store.journal.read(fine.run_id, kinds=["budget_charged"])
    tool_charges = [(e.key.index, e.payload) for e in charges if e.key.index > 0]
    assert [(i, p.name, p.money_micros) for i, p in tool_charges] == [  # type: ignore[union-attr]
        (1, "lookup", 100_000),
        (2, "lookup", 100_000),
    ]
    rt.close()

    rt = make_runtime(tmp_path / "second", scripted(two()))
    over = await rt.run(
        _agent(lookup, model="scripted", tools_budget={"lookup": ToolBudget(money="0.15")}),
        "look up a and b",
    )
    assert over.status is RunStatus.BUDGET_EXCEEDED and batches == [2]  # the batch never ran
    assert over.reason is not None and "tool 'lookup' budget of $0.15" in over.reason
    rt.close()

    rt = make_runtime(tmp_path / "third", scripted(two(), answer("without lookups")))
    operator.kill(rt, "tool", "lookup", "stale data")
    killed = await rt.run(_agent(lookup, model="scripted"), "look up a and b")
    assert killed.status is RunStatus.SUCCEEDED and batches == [2]
    errors = [
        e.payload.error["code"]  # type: ignore[union-attr]
        for e in rt.store.journal.read(killed.run_id, kinds=["tool_call_finished"])
    ]
    assert errors == ["tool_killed", "tool_killed"]
    rt.close()
