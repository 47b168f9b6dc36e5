"""Teams declared in YAML and Python, validated with errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.team.helpers import role, script, team_runtime
from tether.errors import AgentSpecError
from tether.team import Team, as_team, is_team_file, load_team
from tether.testing import answer
from tether.types import RunStatus

TEAM = """\
kind: team
name: review
protocol: supervisor
manager: lead
roles:
  - name: lead
    agent: lead.yaml
    instructions: Delegate, then write the answer.
    budget: {tokens: 3000}
  - name: checker
    model: m-check2
    agent:
      instructions: You check numbers.
      model: m-checker
      tools: [calculator]
    success: {contains: ["ok"]}
arbiter: {max_turns: 4, conflict: supervisor}
budget: {tokens: 9000}
"""


def _files(tmp_path: Path, text: str = TEAM) -> Path:
    (tmp_path / "lead.yaml").write_text(
        "name: lead-agent\ninstructions: You lead.\nmodel: m-lead\n"
    )
    path = tmp_path / "team.yaml"
    path.write_text(text)
    return path


def test_a_team_file_loads_with_file_and_inline_agents(tmp_path: Path) -> None:
    path = _files(tmp_path)
    assert is_team_file(path) and not is_team_file(tmp_path / "lead.yaml")
    team = load_team(path)
    assert team.protocol == "supervisor" and team.manager == "lead"
    lead, checker = team.roles
    assert lead.agent.model == "m-lead" and lead.budget.tokens == 3000
    assert checker.agent.model == "m-checker" and checker.charter_agent().model == "m-check2"
    assert [t.contract.name for t in checker.agent.resolved_tools()] == ["calculator"]
    assert checker.success is not None and checker.success.check("all ok")
    charter = lead.charter_agent()
    assert charter.name == "lead" and "Delegate, then write the answer." in charter.instructions
    assert team.arbiter.max_turns == 4 and team.budget.tokens == 9000
    assert as_team(str(path)) is not None and as_team(tmp_path / "lead.yaml") is None
    assert len(team.version) == 16


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("manager: lead", "manager: boss", "'manager'"),
        ("protocol: supervisor", "protocol: relay", "'protocol'"),
        ("max_turns: 4", "max_turns: 0", "'arbiter.max_turns'"),
        ("name: checker", "name: lead", "'roles'"),
        ("tools: [calculator]", "tools: [nope]", "'tools'"),
        ("model: m-checker", "modle: m-checker", "'roles.1.agent.modle'"),
        ("conflict: supervisor", "conflict: priority", "'arbiter.priority'"),
        ("budget: {tokens: 9000}", "budget: {tokens: -1}", "'budget.tokens'"),
        ("model: m-check2", "tools: [nope]", "'roles.1'"),
    ],
)
def test_bad_team_files_name_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in TEAM
    path = _files(tmp_path, TEAM.replace(old, new))
    with pytest.raises(AgentSpecError) as err:
        load_team(path)
    assert field in str(err.value)
    assert "team.yaml" in str(err.value) or "roles" in str(err.value)


def test_python_teams_are_validated_too() -> None:
    with pytest.raises(AgentSpecError, match="'manager'"):
        Team(name="t", protocol="supervisor", roles=[role("a"), role("b")])
    with pytest.raises(AgentSpecError, match=r"'order'.*no role 'zed'"):
        Team(name="t", protocol="pipeline", roles=[role("a")], order=["a", "zed"])
    with pytest.raises(AgentSpecError, match="'until'"):
        Team(name="t", protocol="pipeline", roles=[role("a")], until="DONE")


async def test_runtime_runs_a_team_file(tmp_path: Path) -> None:
    path = _files(
        tmp_path,
        "kind: team\nname: solo\nprotocol: pipeline\nroles:\n"
        "  - {name: only, agent: {instructions: Answer., model: m-only}}\n",
    )
    rt = team_runtime(tmp_path, {"only": script(answer("done"))})
    result = await rt.run(path, "Do it.")
    assert result.status is RunStatus.SUCCEEDED and result.output == "done"
    assert rt.store.runs.get(result.run_id).agent == "solo"
    rt.close()


async def test_a_bad_role_model_fails_before_anything_is_stored(tmp_path: Path) -> None:
    from tether.errors import ConfigError

    team = Team(name="t", protocol="pipeline", roles=[role("a")])
    rt = team_runtime(tmp_path, {})
    with pytest.raises(ConfigError):
        await rt.run(team, "Do it.")
    assert rt.store.runs.list() == []
    rt.close()
