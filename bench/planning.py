"""Orchestration overhead of plan mode versus ReAct on the same scripted task.

Writes (merging) bench/results/planning.json (metric names in DESIGN §5):
- plan_over_react_wall: median wall time of a plan-mode run over a ReAct run of the same task:
  look up three topics (independent reads of TOOL_S each), then combine them with a fourth
  tool. Both runs use a scripted model that takes MODEL_S per call, like a hosted model's
  latency. ReAct calls one tool per model step (5 model calls); the planner writes one plan and
  runs the three reads as one parallel wave (1 model call, 2 waves).
- plan_over_react_wall_instant: the same with an instant model and instant tools: the
  bookkeeping cost of plan mode alone (plans, waves, verdicts journaled).
- plan_over_react_model_calls, plan_over_react_tokens: model calls and tokens (the scripted
  model's estimate: characters / 4), plan over ReAct.
Rounds alternate the two modes; ratios come from medians measured in the same run.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median, merge_results, metric
from tether import Agent, Limits, Runtime, tool
from tether.settings import Settings
from tether.testing import ScriptedModel, ScriptStep, answer, call
from tether.types import ModelRequest, ModelResponse

ROUNDS = 5
MODEL_S = 0.2
TOOL_S = 0.2
TOPICS = ("alpha", "beta", "gamma")
DELAYS = {"model": MODEL_S, "tool": TOOL_S}


@tool(side_effect="read")
async def lookup(topic: str) -> dict[str, Any]:
    """Look up a topic.

    Args:
        topic: the topic
    """
    await asyncio.sleep(DELAYS["tool"])
    return {"text": f"{topic} is fine"}


@tool(side_effect="read")
async def combine(a: str, b: str, c: str) -> dict[str, Any]:
    """Combine three texts.

    Args:
        a: first
        b: second
        c: third
    """
    await asyncio.sleep(DELAYS["tool"])
    return {"text": f"{a}; {b}; {c}"}


@dataclass
class SlowModel:
    inner: ScriptedModel

    @property
    def id(self) -> str:
        return "scripted"

    async def request(self, request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(DELAYS["model"])
        return await self.inner.request(request)


def react_script() -> list[ScriptStep]:
    reads = [call("lookup", topic=t) for t in TOPICS]
    texts = [f"{t} is fine" for t in TOPICS]
    return [*reads, call("combine", a=texts[0], b=texts[1], c=texts[2]), answer("; ".join(texts))]


def plan_script() -> list[ScriptStep]:
    steps = [
        {"id": f"s{n}", "tool": "lookup", "args": {"topic": t}} for n, t in enumerate(TOPICS, 1)
    ]
    steps.append(
        {"id": "s4", "tool": "combine", "args": {"a": "$s1.text", "b": "$s2.text", "c": "$s3.text"}}
    )
    return [answer(json.dumps({"steps": steps, "answer": "$s4.text", "confidence": 0.9}))]


def agent(mode: str) -> Agent:
    return Agent(
        name=f"bench-{mode}",
        model="scripted",
        mode=mode,  # type: ignore[arg-type]
        tools=[lookup, combine],
        limits=Limits(max_steps=10, max_tool_calls=10),
        preselect_k=8,
    )


def one_run(mode: str, home: Path) -> tuple[float, int, int]:
    script = plan_script() if mode == "plan" else react_script()
    model = ScriptedModel(steps=script)
    rt = Runtime(settings=Settings(home=home), models={"scripted": SlowModel(model)})
    started = time.perf_counter()
    result = rt.run_sync(agent(mode), "Look up alpha, beta and gamma, then combine them.")
    wall = time.perf_counter() - started
    rt.close()
    assert result.status.value == "succeeded", (mode, result.reason)
    model.assert_consumed()
    return wall, len(model.requests), result.usage.total_tokens


def measure(tmp: Path, label: str) -> dict[str, list[tuple[float, int, int]]]:
    runs: dict[str, list[tuple[float, int, int]]] = {"react": [], "plan": []}
    for r in range(ROUNDS):
        for mode in ("react", "plan"):
            runs[mode].append(one_run(mode, tmp / f"{label}-{mode}-{r}"))
    return runs


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        slow = measure(Path(tmp), "slow")
        DELAYS.update(model=0.0, tool=0.0)
        instant = measure(Path(tmp), "instant")

    def med(runs: dict[str, list[tuple[float, int, int]]], mode: str, i: int) -> float:
        return median([float(r[i]) for r in runs[mode]])

    wall = med(slow, "plan", 0) / med(slow, "react", 0)
    bare = med(instant, "plan", 0) / med(instant, "react", 0)
    calls = med(slow, "plan", 1) / med(slow, "react", 1)
    tokens = med(slow, "plan", 2) / med(slow, "react", 2)
    note = (
        f"3 independent reads + 1 combine; model {MODEL_S}s/call, tools {TOOL_S}s; react "
        f"{med(slow, 'react', 0):.2f}s vs plan {med(slow, 'plan', 0):.2f}s, median of {ROUNDS}"
    )
    metrics = {
        "plan_over_react_wall": metric(wall, "ratio", "< 1 when steps are independent", note),
        "plan_over_react_wall_instant": metric(
            bare,
            "ratio",
            "close to 1",
            f"instant model and tools: react {med(instant, 'react', 0) * 1000:.1f} ms vs plan "
            f"{med(instant, 'plan', 0) * 1000:.1f} ms (bookkeeping only)",
        ),
        "plan_over_react_model_calls": metric(
            calls,
            "ratio",
            "< 1",
            f"plan {med(slow, 'plan', 1):.0f} vs react {med(slow, 'react', 1):.0f}",
        ),
        "plan_over_react_tokens": metric(
            tokens,
            "ratio",
            "",
            f"plan {med(slow, 'plan', 2):.0f} vs react {med(slow, 'react', 2):.0f}",
        ),
    }
    path = merge_results("planning.json", metrics)
    print(path.read_text())


if __name__ == "__main__":
    main()
