"""Teams on scripted models: one scripted model per role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether import Agent, Runtime
from tether.agent.spec import Limits
from tether.settings import Settings
from tether.team import Role
from tether.testing import ScriptedModel, ScriptStep


def role(name: str, *, tools: list[Any] | None = None, **charter: Any) -> Role:
    agent = Agent(
        name=name,
        instructions=f"You are the {name}.",
        model=f"m-{name}",
        tools=tools or [],
        limits=Limits(max_steps=4),
        preselect_k=8,
    )
    return Role(name=name, agent=agent, **charter)


def team_runtime(tmp_path: Path, scripts: dict[str, ScriptedModel], **settings: Any) -> Runtime:
    s = Settings(home=tmp_path / "home", workspace=tmp_path, **settings)
    return Runtime(settings=s, models={f"m-{name}": m for name, m in scripts.items()})


def script(*steps: ScriptStep, repeat_last: bool = False) -> ScriptedModel:
    return ScriptedModel(steps=list(steps), repeat_last=repeat_last)


def kinds(rt: Runtime, run_id: str) -> list[str]:
    return [e.kind for e in rt.store.journal.read(run_id)]
