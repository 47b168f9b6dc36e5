"""Helpers for tests that run agents on the scripted model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether import Agent, Runtime
from tether.agent.spec import Limits
from tether.settings import Settings
from tether.testing import ScriptedModel, ScriptStep


def make_runtime(tmp_path: Path, model: ScriptedModel, **settings: Any) -> Runtime:
    s = Settings(home=tmp_path / "home", workspace=tmp_path, **settings)
    return Runtime(settings=s, models={"scripted": model})


def scripted(*steps: ScriptStep, repeat_last: bool = False) -> ScriptedModel:
    return ScriptedModel(steps=list(steps), repeat_last=repeat_last)


def agent(*tools: Any, **limits: Any) -> Agent:
    return Agent(
        name="test-agent",
        instructions="Test agent.",
        model="scripted",
        tools=list(tools) or ["calculator", "current_datetime"],
        limits=Limits(**limits),
        preselect_k=8,
    )
