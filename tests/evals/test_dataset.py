"""Datasets load from YAML and JSONL; bad input names the file, the field and the case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.evals.helpers import GOLDEN, write_dataset
from tether.errors import ConfigError
from tether.evals.dataset import load_dataset


def test_golden_set_has_at_least_50_cases_for_the_demo_agent() -> None:
    data = load_dataset(GOLDEN)
    assert len(data.cases) >= 50
    assert data.agent == "demo"
    assert {c.component for c in data.cases} == {"agent", "tool", "retrieval", "judge"}
    assert 3 <= len(data.select(tags=["local"]).cases) <= 10  # the embedded-model sample


def test_jsonl_cases_load_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    rows = [
        {"id": "a", "input": "Say hi.", "script": [{"answer": "hi"}], "expect": {"output": "hi"}},
        {"id": "b", "input": "Compute 1 + 1.", "tags": ["calc"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    data = load_dataset(path)
    assert [c.id for c in data.cases] == ["a", "b"]
    assert data.name == "cases"
    assert data.cases[0].script_steps()[0].text == "hi"


def test_a_bad_field_names_the_file_field_and_case(tmp_path: Path) -> None:
    path = write_dataset(
        tmp_path,
        [{"id": "ok", "input": "x"}, {"id": "bad", "input": "y", "budget": {"max_steps": 0}}],
    )
    with pytest.raises(ConfigError) as err:
        load_dataset(path)
    msg = str(err.value)
    assert "cases.yaml" in msg and "cases[1].budget.max_steps" in msg and "'bad'" in msg


def test_a_turn_does_exactly_one_thing(tmp_path: Path) -> None:
    path = write_dataset(
        tmp_path,
        [{"id": "t", "input": "x", "script": [{"answer": "a", "call": {"tool": "calculator"}}]}],
    )
    with pytest.raises(ConfigError, match="exactly one of"):
        load_dataset(path)


def test_duplicate_ids_and_component_fields_are_refused(tmp_path: Path) -> None:
    dup = write_dataset(tmp_path, [{"id": "a", "input": "x"}, {"id": "a", "input": "y"}])
    with pytest.raises(ConfigError, match="appears twice"):
        load_dataset(dup)
    tool = write_dataset(tmp_path, [{"id": "a", "component": "tool"}])
    with pytest.raises(ConfigError, match="names its 'tool'"):
        load_dataset(tool)


def test_bad_yaml_and_missing_file_say_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("cases: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_dataset(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_dataset(tmp_path / "missing.yaml")
