"""Per-component evals and the target that runs a whole dataset.

A ``tool`` case runs one tool with given arguments (validated and executed as in a run); a
``retrieval`` case ingests its small corpus into tether's semantic memory and searches it; a
``judge`` case grades a given answer and checks the judge's verdict. ``DatasetTarget`` sends
each case to its component; ``run_dataset`` is what ``tether eval run`` and the benchmark call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.agent.spec import Agent
from tether.errors import ToolError
from tether.evals.checks import Check, Pure, checks_for
from tether.evals.dataset import Case, Dataset
from tether.evals.harness import Harness
from tether.evals.judge import Judge, JudgeCheck
from tether.evals.observe import CallRecord, Observation
from tether.evals.runner import AgentTarget, AttemptResult, EvalResult, evaluate
from tether.memory.embed import Embedder
from tether.tools import ToolContext, ToolRegistry
from tether.types import ToolCall


@dataclass(kw_only=True)
class ToolTarget:
    """Runs ``case.tool`` with ``case.arguments`` from the case's agent's tools."""

    harness: Harness
    agents: Callable[[Case], Agent]
    workspace: Path | None = None

    async def observe(self, case: Case, attempt: int, seed: int) -> Observation:
        registry = ToolRegistry(self.agents(case).resolved_tools())
        ws = self.harness.workspace(f"{case.id}-{attempt}", self.workspace, case.files)
        executor = self.harness.runtime.executor
        call = ToolCall(id="call_0", name=case.tool or "", arguments=case.arguments)
        try:
            prepared = executor.prepare(registry, call)
        except ToolError as exc:
            error = exc.to_result()["error"]
            record = CallRecord(
                step=0,
                index=0,
                tool=call.name,
                arguments=call.arguments,
                validated=False,
                error=error,
            )
            return Observation(goal=case.input, status="failed", reason=str(exc), calls=(record,))
        ctx = ToolContext(
            run_id=f"eval-{case.id}",
            idempotency_key=f"{case.id}-{attempt}",
            workspace=ws,
            call_id="call_0",
        )
        out = await executor.execute(prepared, ctx)
        record = CallRecord(
            step=0,
            index=0,
            tool=prepared.tool.contract.name,
            arguments=prepared.arguments,
            ok=out.ok,
            result=out.result,
            error=out.error,
            side_effect=prepared.tool.contract.side_effect,
        )
        text = json.dumps(out.result if out.ok else out.error, ensure_ascii=False, default=str)
        return Observation(
            goal=case.input,
            status="succeeded" if out.ok else "failed",
            output=text,
            calls=(record,),
            latency_ms=out.latency_ms,
            tool_calls=1,
            value=out.result,
        )


@dataclass(kw_only=True)
class RetrievalTarget:
    """Ingests the case's corpus (one item per entry) for a tenant of its own and searches it."""

    harness: Harness
    embedder: Embedder | None = None

    async def observe(self, case: Case, attempt: int, seed: int) -> Observation:
        from tether.memory.embed import LocalEmbedder
        from tether.memory.store import MemoryItem, SemanticStore

        if self.embedder is None:
            self.embedder = LocalEmbedder()
        store = SemanticStore(self.harness.runtime.store.engine, self.embedder, cache_ttl_s=0)
        tenant = f"eval-{case.id}-{attempt}"
        items = [MemoryItem(text=t, source=f"{case.id}#{n}") for n, t in enumerate(case.corpus)]
        await asyncio.to_thread(store.add, tenant, items, replace_source=True)
        hits = await asyncio.to_thread(store.search, tenant, case.input, k=case.k)
        texts = [h.text for h in hits]
        return Observation(
            goal=case.input, status="succeeded", output="\n".join(texts), value=texts
        )


@dataclass(kw_only=True)
class JudgeTarget:
    """Grades the case's answer with the judge; the verdict is the observation's value."""

    judge: Judge

    async def observe(self, case: Case, attempt: int, seed: int) -> Observation:
        j = case.judge
        assert j is not None
        grade = await self.judge.grade(
            j.question, j.answer, j.rubric, context=j.context, script=j.script
        )
        passed = grade.valid and grade.total == len(j.rubric)
        return Observation(
            run_id=grade.run_id,
            goal=j.question,
            status="succeeded",
            output=json.dumps(grade.to_json() | {"run_id": None}),
            value=passed,
        )


def judge_verdict(case: Case) -> Check:
    """A judge case passes when the judge's pass/fail matches ``expect_pass``."""
    want = case.judge.expect_pass if case.judge is not None else True
    return Pure(
        name="judge_verdict",
        fn=lambda o: (o.value is want, f"judge said {o.value}, expected {want}"),
    )


@dataclass(kw_only=True)
class DatasetTarget:
    """Sends each case to the target of its component."""

    targets: dict[str, Any] = field(default_factory=dict)

    async def observe(self, case: Case, attempt: int, seed: int) -> Observation:
        target = self.targets.get(case.component)
        if target is None:
            raise LookupError(f"no target for component {case.component!r}")
        obs: Observation = await target.observe(case, attempt, seed)
        return obs


def dataset_checks(dataset: Dataset, harness: Harness) -> Callable[[Case], Sequence[Check]]:
    def judge_check(spec: Any) -> Check:
        return JudgeCheck(
            judge=Judge(runner=harness, model=spec.model or dataset.judge_model), spec=spec
        )

    def checks(case: Case) -> Sequence[Check]:
        if case.component == "judge":
            return [judge_verdict(case)]
        return checks_for(case, judge_check)

    return checks


def agent_resolver(dataset: Dataset, agent: Agent | str | None) -> Callable[[Case], Agent]:
    """Each case's agent: ``agent`` (given), else the case's, else the dataset's."""
    from tether.cli.main import find_agent

    cache: dict[str, Agent] = {}

    def resolve(case: Case) -> Agent:
        if isinstance(agent, Agent):
            return agent
        ref = agent or case.agent or dataset.agent
        key = ref or "assistant"
        if key not in cache:
            path = dataset.relative(key) if ref and ref.endswith((".yaml", ".yml")) else None
            cache[key] = find_agent(str(path) if path is not None else ref)
        return cache[key]

    return resolve


async def run_dataset(
    dataset: Dataset,
    harness: Harness,
    *,
    agent: Agent | str | None = None,
    model: str | None = None,
    repeat: int = 1,
    concurrency: int = 4,
    seed: int = 0,
    scripted: bool = True,
    on_done: Callable[[AttemptResult], None] | None = None,
) -> EvalResult:
    """Run every case of ``dataset`` in ``harness``; scripted cases play their scripts
    (``scripted=False``: the agent's model, or ``model``, plays every case)."""
    agents = agent_resolver(dataset, agent)
    workspace = dataset.relative(dataset.workspace) if dataset.workspace else None
    judge = Judge(runner=harness, model=dataset.judge_model)
    target = DatasetTarget(
        targets={
            "agent": AgentTarget(
                harness=harness,
                agents=agents,
                model=model or dataset.model,
                workspace=workspace,
                scripted=scripted,
            ),
            "tool": ToolTarget(harness=harness, agents=agents, workspace=workspace),
            "retrieval": RetrievalTarget(harness=harness),
            "judge": JudgeTarget(judge=judge),
        }
    )
    first = agents(dataset.cases[0]) if dataset.cases else None
    name = first.name if first is not None else ""
    own = (first.model if first is not None else None) or harness.settings.model
    return await evaluate(
        dataset,
        target,
        checks=dataset_checks(dataset, harness),
        repeat=repeat,
        concurrency=concurrency,
        seed=seed,
        agent=name,
        model=model or dataset.model or ("scripted" if scripted else own),
        on_done=on_done,
    )
