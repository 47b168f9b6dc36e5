"""The harness: one runtime and store for an eval run, running agents and observing them.

Models are given per run: a model object (a case's scripted turns) is registered under a
fresh id in the harness's own model table, so concurrent cases never share a script. Every
run is an ordinary tether run (journaled, policy-checked, budgeted) in the harness's database.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tether.agent.spec import Agent
from tether.evals.observe import Observation, observe
from tether.models.base import Model
from tether.runtime import Runtime
from tether.settings import Settings
from tether.types import ModelRequest, ModelResponse


class ModelTable(Mapping[str, Model]):
    """Models by id, added while an eval runs (the runtime's ``models`` mapping)."""

    def __init__(self) -> None:
        self._models: dict[str, Model] = {}
        self._next = 0

    def add(self, model: Model) -> str:
        self._next += 1
        model_id = f"eval-model-{self._next}"
        self._models[model_id] = model
        return model_id

    def remove(self, model_id: str) -> None:
        self._models.pop(model_id, None)

    def __getitem__(self, key: str) -> Model:
        return self._models[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)


@dataclass(frozen=True)
class Seeded:
    """A model whose requests carry ``seed`` (sampling models draw the same tokens)."""

    inner: Model
    seed: int

    @property
    def id(self) -> str:
        return self.inner.id

    async def request(self, request: ModelRequest) -> ModelResponse:
        seeded = replace(request, settings=replace(request.settings, seed=self.seed))
        return await self.inner.request(seeded)


@dataclass(kw_only=True)
class Harness:
    """Runs agents for an eval; ``folder`` holds its database and the cases' workspaces."""

    folder: Path
    settings: Settings
    models: ModelTable = field(default_factory=ModelTable)
    _runtime: Runtime | None = None
    _resolved: dict[str, Model] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path, settings: Settings | None = None, **overrides: Any) -> Harness:
        folder.mkdir(parents=True, exist_ok=True)
        base = settings or Settings(home=folder / "home", workspace=folder / "workspace")
        return cls(folder=folder, settings=base.model_copy(update=overrides))

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime(settings=self.settings, models=self.models)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    def workspace(self, name: str, source: Path | None, files: Mapping[str, str]) -> Path:
        """A fresh workspace for one run: ``source`` copied, then ``files`` written."""
        target = self.folder / "workspaces" / name
        if target.exists():
            shutil.rmtree(target)
        if source is not None:
            shutil.copytree(source, target)
        target.mkdir(parents=True, exist_ok=True)
        for rel, text in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return target

    def model(self, model: Model | str | None, agent: Agent, seed: int | None) -> str | None:
        """The id to run ``agent`` with: a registered object, seeded when ``seed`` is given."""
        if model is None and seed is None:
            return None
        if model is None or isinstance(model, str):
            model_id = model or agent.model or self.settings.model
            if seed is None:
                return model_id
            if model_id not in self._resolved:  # one object per id: the local model loads once
                self._resolved[model_id] = self.runtime.model_factory.one(model_id)
            return self.models.add(Seeded(self._resolved[model_id], seed))
        return self.models.add(model if seed is None else Seeded(model, seed))

    async def run_agent(
        self,
        agent: Agent,
        goal: str,
        *,
        model: Model | str | None = None,
        workspace: Path | None = None,
        seed: int | None = None,
    ) -> Observation:
        """Run ``agent`` on ``goal`` to its end (or a pause) and observe it."""
        rt = self.runtime
        model_id = self.model(model, agent, seed)
        started = time.perf_counter()
        try:
            ctx = await rt.start(agent, goal, model=model_id)
            if workspace is not None:
                ctx.settings = ctx.settings.model_copy(update={"workspace": workspace})
            await rt.drive(ctx)
        finally:
            if model_id is not None and model_id in self.models:
                self.models.remove(model_id)
        wall_ms = (time.perf_counter() - started) * 1000
        events = await asyncio.to_thread(rt.store.journal.read, ctx.run_id)
        return observe(events, latency_ms=wall_ms)
