"""Agents from YAML and Python: validated on load, errors name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether import Agent, Limits, load_agent
from tether.errors import AgentSpecError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "agent.yaml"
    p.write_text(text)
    return p


def test_yaml_agent_loads_with_builtin_tools(tmp_path: Path) -> None:
    a = load_agent(
        write(tmp_path, "name: a1\ninstructions: hi\ntools: [calculator]\nlimits: {max_steps: 3}\n")
    )
    assert a.name == "a1" and a.limits.max_steps == 3
    assert [t.contract.name for t in a.resolved_tools()] == ["calculator"]


def test_yaml_agent_imports_module_tools(tmp_path: Path) -> None:
    a = load_agent(write(tmp_path, "name: a2\ntools: ['tether.tools.builtin:calculator']\n"))
    assert [t.contract.name for t in a.resolved_tools()] == ["calculator"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: a\nlimits: {max_steps: 0}\n", "limits.max_steps"),
        ("name: a\nlimits: {max_stepz: 3}\n", "limits.max_stepz"),
        ("name: 'bad name!'\n", "'name'"),
        ("name: a\ntools: [nonexistent_tool]\n", "unknown tool 'nonexistent_tool'"),
        ("name: a\ntools: ['no.such.module:fn']\n", "cannot import"),
        ("name: a\ntools: [calculator\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("instructions: hi\n", "'name'"),
    ],
)
def test_bad_agent_files_name_the_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AgentSpecError) as info:
        load_agent(path)
    message = str(info.value)
    assert needle in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_agent_file(tmp_path: Path) -> None:
    with pytest.raises(AgentSpecError, match="not found"):
        load_agent(tmp_path / "missing.yaml")


def test_version_is_a_content_hash() -> None:
    a = Agent(name="v", tools=["calculator"])
    b = Agent(name="v", tools=["calculator"])
    c = Agent(name="v", tools=["calculator"], limits=Limits(max_steps=2))
    assert a.version == b.version
    assert a.version != c.version


def test_python_agent_validates_eagerly() -> None:
    with pytest.raises(AgentSpecError, match="preselect_k"):
        Agent(name="x", preselect_k=0)
