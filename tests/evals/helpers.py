"""Helpers for the eval harness tests: a harness in a temporary folder, a dataset in memory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from tether.agent.spec import Agent
from tether.evals.components import run_dataset
from tether.evals.dataset import Dataset, load_dataset
from tether.evals.harness import Harness
from tether.evals.runner import EvalResult

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "evals" / "golden.yaml"


def write_dataset(folder: Path, cases: list[dict[str, Any]], **fields: Any) -> Path:
    path = folder / "cases.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "cases": cases, **fields}), encoding="utf-8")
    return path


def run(
    dataset: Dataset | Path, folder: Path, *, agent: Agent | str | None = None, **kw: Any
) -> EvalResult:
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    harness = Harness.open(folder / "harness", **kw.pop("settings", {}))
    try:
        return asyncio.run(run_dataset(data, harness, agent=agent, **kw))
    finally:
        harness.close()
