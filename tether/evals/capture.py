"""A stored run turned into a dataset case (``tether eval add RUN DATASET``).

The case's input is the run's goal; its script is the run's recorded model responses (so the
case replays deterministically); it expects the run's successful tool calls, in order, and
its answer, or ``correction`` when a person says what the answer should have been. Approval
edits become the expected arguments: the journal's ``tool_call_started`` holds what ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tether.errors import ConfigError, UsageError
from tether.evals.dataset import Case, load_dataset
from tether.evals.observe import observe
from tether.events import Event, ModelResponded


def case_from_run(
    events: Sequence[Event], *, case_id: str, correction: str | None = None
) -> dict[str, Any]:
    """The case (as a YAML-ready mapping, validated) that a run's journal describes."""
    obs = observe(events)
    script: list[dict[str, Any]] = []
    for e in events:
        p = e.payload
        if not isinstance(p, ModelResponded):
            continue
        if p.error is not None:
            script.append({"error": p.error})
        elif p.tool_calls:
            calls = [{"tool": c["name"], "args": c["arguments"]} for c in p.tool_calls]
            script.append({"call": calls[0]} if len(calls) == 1 else {"calls": calls})
        else:
            script.append({"answer": p.text or ""})
    expect: dict[str, Any] = {
        "status": obs.status,
        "trajectory": {
            "order": "exact",
            "calls": [{"tool": c.tool, "args": c.arguments} for c in obs.ok_calls],
        },
    }
    answer = correction if correction is not None else obs.output
    if answer is not None:
        expect["output"] = answer
    case = {
        "id": case_id,
        "input": obs.goal,
        "tags": ["captured"] + (["corrected"] if correction is not None else []),
        "script": script,
        "expect": expect,
    }
    Case.model_validate(case)
    return case


def append_case(path: Path, case: dict[str, Any]) -> int:
    """Add ``case`` to the dataset at ``path`` (created if missing); returns the case count."""
    if path.suffix == ".jsonl":
        raise UsageError(f"{path}: add cases to a YAML dataset (JSONL files are append-only text)")
    data: dict[str, Any] = {"name": path.stem, "cases": []}
    if path.exists():
        current = load_dataset(path)  # validates the file before it is rewritten
        if any(c.id == case["id"] for c in current.cases):
            raise ConfigError(f"{path}: case id {case['id']!r} exists; pass --id to name it")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            data = {"name": path.stem, "cases": data}
    data.setdefault("cases", []).append(case)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return len(data["cases"])
