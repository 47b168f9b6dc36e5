"""The README's examples run: its Python blocks execute and its YAML agent loads."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tether import load_agent

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


MYPKG = '''
from tether import tool

@tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order."""
    return {"order_id": order_id}
'''


def test_readme_yaml_agent_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "tools.py").write_text(MYPKG)
    monkeypatch.syspath_prepend(str(tmp_path))
    (yaml_block,) = [b for b in blocks("yaml") if b.startswith("# agents/")]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml_block)
    agent = load_agent(path)
    assert [t.contract.name for t in agent.resolved_tools()] == [
        "calculator",
        "current_datetime",
        "read_file",
        "lookup_order",
    ]
    sys.modules.pop("mypkg.tools", None)
    sys.modules.pop("mypkg", None)


@pytest.mark.model
def test_readme_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    (code,) = [b for b in blocks("python") if "Runtime()" in b]
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert re.match(r"^\S+ ", out), out  # prints "<status> <output>"
    assert (tmp_path / "home" / "tether.db").is_file()


def test_readme_yaml_snippets_are_valid_agent_fields() -> None:
    import yaml

    from tether.agent.spec import AgentSpec

    snippets = [
        b
        for b in blocks("yaml")
        if not b.startswith(
            (
                "# agents/",
                "# tools/",
                "# teams/",
                "# evals/",
                "# triggers.yaml",
                "# notifications.yaml",
            )
        )
    ]
    assert snippets
    for snippet in snippets:
        AgentSpec.model_validate({"name": "snippet", **yaml.safe_load(snippet)})


def test_readme_triggers_file_loads(tmp_path: Path) -> None:
    from tether.service.listeners import load_listeners
    from tether.service.triggers import load_triggers

    (block,) = [b for b in blocks("yaml") if b.startswith("# triggers.yaml")]
    (tmp_path / "triggers.yaml").write_text(block)
    (trigger,) = load_triggers(tmp_path / "triggers.yaml").values()
    assert trigger.name == "new-ticket" and trigger.dedupe == "{ticket.id}"
    pg, stream = load_listeners(tmp_path / "triggers.yaml")
    assert (pg.source, pg.channel) == ("postgres", "new_order")
    assert (stream.source, stream.group) == ("redis", "tether")


def test_readme_notifications_file_loads(tmp_path: Path) -> None:
    from tether.notify import load_notifications

    (block,) = [b for b in blocks("yaml") if b.startswith("# notifications.yaml")]
    (tmp_path / "notifications.yaml").write_text(block)
    config = load_notifications(tmp_path / "notifications.yaml")
    assert [w.name for w in config.webhooks] == ["ops"]
    assert [a.metric for a in config.alerts] == [
        "task_success_rate",
        "approvals_pending",
        "breaker_open",
    ]


def test_readme_http_tool_file_loads(tmp_path: Path) -> None:
    from tether.tools.http import load_http_tools

    (block,) = [b for b in blocks("yaml") if b.startswith("# tools/")]
    path = tmp_path / "pets.yaml"
    path.write_text(block)
    toolset = load_http_tools(path)
    tiers = {t.name: t.contract.side_effect for t in toolset.tools}
    assert tiers == {"get_pet": "read", "create_pet": "write"}


def test_readme_python_fragments_compile() -> None:
    fragments = [b for b in blocks("python") if "Runtime()" not in b]
    assert fragments
    for fragment in fragments:
        compile(fragment, "README.md", "exec")


def test_readme_team_file_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tether.team import load_team

    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "tools.py").write_text(MYPKG)
    monkeypatch.syspath_prepend(str(tmp_path))
    (agent_block,) = [b for b in blocks("yaml") if b.startswith("# agents/")]
    (team_block,) = [b for b in blocks("yaml") if b.startswith("# teams/")]
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "mine.yaml").write_text(agent_block)
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "review.yaml").write_text(team_block)
    team = load_team(tmp_path / "teams" / "review.yaml")
    assert team.protocol == "supervisor" and [r.name for r in team.roles] == ["lead", "math"]
    assert team.roles[1].budget.tokens == 4000 and team.budget.tokens == 20000
    sys.modules.pop("mypkg.tools", None)
    sys.modules.pop("mypkg", None)


def test_readme_eval_dataset_loads(tmp_path: Path) -> None:
    from tether.evals.dataset import load_dataset

    (block,) = [b for b in blocks("yaml") if b.startswith("# evals/")]
    path = tmp_path / "orders.yaml"
    path.write_text(block)
    data = load_dataset(path)
    assert [c.id for c in data.cases] == ["total", "calc-tool"]
    assert data.cases[0].expect.trajectory is not None
