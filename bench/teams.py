"""Teams versus a single agent on the same scripted tasks: overhead and marginal gain.

Twenty arithmetic tasks ("What is A*B+C?"). The worker's scripted policy slips on every third
task (it computes A*B and forgets +C), as a cheap single agent does; a reviewer recomputes the
whole expression with the calculator and corrects it. The single agent is the worker alone.
Each protocol runs the same tasks: ``pipeline`` (worker → reviewer), ``supervisor`` (a lead
hands the task to the worker, then the worker's answer to the reviewer, then answers),
``group_chat`` (worker, then reviewer, until "FINAL:"). Measured per protocol: tokens and model
calls from the runs' records, wall time, and task success (the final answer holds the right
number). Gains here are by construction of the scripted policies; the overheads are real
(prompts grow with hand-offs and transcripts). Writes bench/results/planning.json, merged with
the planning engineer's metrics.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import merge_results, metric
from tether import Agent, RunResult, Runtime
from tether.agent.spec import Limits
from tether.models.base import Model
from tether.settings import Settings
from tether.team import Role, Team
from tether.testing import ScriptedModel, ScriptStep, answer, call

TASKS = [(3 + i, 7 + 2 * i, 5 + i) for i in range(20)]
ROUNDS = 3


@dataclass(frozen=True)
class Task:
    a: int
    b: int
    c: int

    @property
    def goal(self) -> str:
        return f"What is {self.a}*{self.b}+{self.c}?"

    @property
    def right(self) -> int:
        return self.a * self.b + self.c

    def worker_value(self, i: int) -> int:
        return self.a * self.b if i % 3 == 0 else self.right  # the slip

    def worker(self, i: int) -> list[ScriptStep]:
        expr = f"{self.a}*{self.b}" if i % 3 == 0 else f"{self.a}*{self.b}+{self.c}"
        return [call("calculator", expression=expr), answer(f"It is {self.worker_value(i)}.")]

    def reviewer(self, prefix: str = "") -> list[ScriptStep]:
        expr = f"{self.a}*{self.b}+{self.c}"
        return [call("calculator", expression=expr), answer(f"{prefix}{self.right}")]


def _agent(name: str, tools: list[str]) -> Agent:
    return Agent(
        name=name,
        instructions=f"You are the {name}.",
        model=f"m-{name}",
        tools=tools,
        limits=Limits(max_steps=4),
        preselect_k=8,
    )


def _role(name: str, tools: list[str]) -> Role:
    return Role(name=name, agent=_agent(name, tools))


def scripts(protocol: str, task: Task, i: int) -> dict[str, list[ScriptStep]]:
    if protocol == "single":
        return {"worker": task.worker(i)}
    if protocol == "pipeline":
        return {"worker": task.worker(i), "reviewer": task.reviewer("Checked: ")}
    if protocol == "group_chat":
        return {"worker": task.worker(i), "reviewer": task.reviewer("FINAL: ")}
    said = f"It is {task.worker_value(i)}."
    return {
        "lead": [
            call("handoff_to_worker", task=task.goal),
            call("handoff_to_reviewer", task=f"Check: {task.goal} The worker said: {said}"),
            answer(f"The answer is {task.right}."),
        ],
        "worker": task.worker(i),
        "reviewer": task.reviewer(),
    }


def runnable(protocol: str) -> Agent | Team:
    worker, reviewer = _role("worker", ["calculator"]), _role("reviewer", ["calculator"])
    if protocol == "single":
        return worker.agent
    if protocol == "pipeline":
        return Team(name="pipe", protocol="pipeline", roles=[worker, reviewer])
    if protocol == "group_chat":
        return Team(name="chat", protocol="group_chat", roles=[worker, reviewer], until="FINAL:")
    lead = _role("lead", [])
    return Team(name="sup", protocol="supervisor", manager="lead", roles=[lead, worker, reviewer])


@dataclass
class Totals:
    tokens: int = 0
    model_calls: int = 0
    wall_s: float = 0.0
    succeeded: int = 0


async def measure(protocol: str, home: Path) -> Totals:
    """All tasks through one runtime (one store), after one untimed warm-up run."""
    totals = Totals()
    target = runnable(protocol)
    models: dict[str, Model] = {}
    rt = Runtime(settings=Settings(home=home, workspace=home), models=models)

    async def once(task: Task, i: int) -> tuple[RunResult, int, float]:
        scripted = {f"m-{r}": ScriptedModel(steps=s) for r, s in scripts(protocol, task, i).items()}
        models.clear()
        models.update(scripted)
        started = time.perf_counter()
        result = await rt.run(target, task.goal)
        wall = time.perf_counter() - started
        return result, sum(len(m.requests) for m in scripted.values()), wall

    try:
        await once(Task(*TASKS[1]), 1)  # warm-up: the store's first use
        for i, (a, b, c) in enumerate(TASKS):
            task = Task(a, b, c)
            result, calls, wall = await once(task, i)
            totals.wall_s += wall
            totals.tokens += result.usage.total_tokens
            totals.model_calls += calls
            totals.succeeded += str(task.right) in (result.output or "")
    finally:
        rt.close()
    return totals


def best(runs: list[Totals]) -> Totals:
    """Tokens and calls are the same each round; wall time is the median round."""
    return Totals(
        tokens=runs[0].tokens,
        model_calls=runs[0].model_calls,
        wall_s=statistics.median(r.wall_s for r in runs),
        succeeded=runs[0].succeeded,
    )


def main() -> None:
    protocols = ["single", "pipeline", "supervisor", "group_chat"]
    found: dict[str, Totals] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rounds: dict[str, list[Totals]] = {p: [] for p in protocols}
        for r in range(ROUNDS):
            for p in protocols:  # interleaved, so machine load hits every protocol alike
                rounds[p].append(asyncio.run(measure(p, Path(tmp) / f"{p}-{r}")))
        found = {p: best(runs) for p, runs in rounds.items()}
    single = found["single"]
    n = len(TASKS)
    metrics = {
        "team_single_success_rate": metric(single.succeeded / n, "ratio", "", _note(single, n)),
    }
    for p in protocols[1:]:
        t = found[p]
        ratio: Callable[[float, float], float] = lambda x, y: x / y  # noqa: E731
        gain = (t.succeeded - single.succeeded) / n
        note = (
            f"{_note(t, n)}; vs single agent: success +{gain:.0%}, "
            f"{ratio(t.model_calls, single.model_calls):.2f}x model calls, "
            f"{ratio(t.wall_s, single.wall_s):.2f}x wall"
        )
        metrics[f"{p}_over_single_tokens"] = metric(
            ratio(t.tokens, single.tokens), "ratio", "report", note
        )
        metrics[f"{p}_over_single_model_calls"] = metric(
            ratio(t.model_calls, single.model_calls), "ratio", "report", note
        )
        metrics[f"{p}_over_single_wall"] = metric(
            ratio(t.wall_s, single.wall_s), "ratio", "report", note
        )
        metrics[f"{p}_success_gain"] = metric(gain, "ratio", "report", note)
    path = merge_results("planning.json", metrics)
    for name, m in metrics.items():
        print(f"{name}: {m['value']}  ({m['note']})")
    print(f"-> {path}")


def _note(t: Totals, n: int) -> str:
    return (
        f"{n} scripted tasks: {t.succeeded}/{n} right, {t.tokens} tokens, "
        f"{t.model_calls} model calls, {t.wall_s:.2f} s"
    )


if __name__ == "__main__":
    main()
