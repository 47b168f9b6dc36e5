"""Loading policy files: validated against the schema, errors that name the file, reloads."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.governance.fixtures import TOOLS, gate, write_project
from tether import Agent, Runtime
from tether.errors import ConfigError
from tether.governance.loader import PolicySource
from tether.governance.terms import ApprovalTerms, terms_for
from tether.settings import Settings
from tether.testing import FakeClock, ScriptedModel
from tether.types import UserMessage

HISTORY = [UserMessage(content="go")]
DENY_SEARCH = '@id("no_search") forbid (principal, action, resource == Tool::"search");\n'


def decide_search(g: object) -> str:
    verdict = g.decide_tool(  # type: ignore[attr-defined]
        TOOLS["search"], {"q": "x"}, HISTORY, tokens_left=1000, tool_calls_left=5
    )
    return str(verdict.decision.outcome)


def test_a_changed_file_is_reloaded_at_most_once_per_interval(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    clock = FakeClock()
    source = PolicySource(folder=folder, clock=clock, reload_ms=500)
    first = source.current()
    extra = folder / "extra.cedar"
    extra.write_text(DENY_SEARCH)
    assert source.current() is first  # checked less than 500 ms ago: not even a stat
    clock.advance(0.6)
    second = source.current()
    assert second is not first and "no_search" in second.policies
    clock.advance(0.6)
    assert source.current() is second  # nothing changed: not re-parsed
    extra.write_text(DENY_SEARCH.replace("no_search", "still_no_search"))
    os.utime(extra, ns=(1, 1))  # a different mtime even on coarse file systems
    clock.advance(0.6)
    assert "still_no_search" in source.current().policies


def test_a_decision_follows_the_reloaded_policies(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    g = gate(folder)
    assert decide_search(g) == "allow"
    (folder / "extra.cedar").write_text(DENY_SEARCH)
    assert decide_search(g) == "deny"


def test_a_syntax_error_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    (folder / "broken.cedar").write_text("permit (principal, action, resource) whenn { true };")
    with pytest.raises(ConfigError, match=r"broken\.cedar: not valid Cedar"):
        PolicySource(folder=folder, clock=FakeClock()).current()


def test_an_unguarded_optional_attribute_fails_validation(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    (folder / "unguarded.cedar").write_text(
        'forbid (principal, action == Action::"invoke_unattended", resource is Tool)\n'
        "when { context.amount > 100 };\n"
    )
    with pytest.raises(
        ConfigError, match=r"unguarded\.cedar: .*optional attribute `amount`.*`has`"
    ):
        PolicySource(folder=folder, clock=FakeClock()).current()


def test_an_unknown_attribute_or_action_fails_validation(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    (folder / "typo.cedar").write_text(
        'permit (principal, action == Action::"invoke", resource is Tool)\n'
        'when { resource.teir == "read" };'
    )
    with pytest.raises(ConfigError, match=r"typo\.cedar: .*teir"):
        PolicySource(folder=folder, clock=FakeClock()).current()
    (folder / "typo.cedar").write_text('permit (principal, action == Action::"launch", resource);')
    with pytest.raises(ConfigError, match=r"typo\.cedar"):
        PolicySource(folder=folder, clock=FakeClock()).current()


def test_duplicate_ids_and_bad_entities_are_config_errors(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    (folder / "dup.cedar").write_text('@id("ladder.read") permit (principal, action, resource);')
    with pytest.raises(ConfigError, match=r"dup\.cedar: policy id 'ladder\.read' is used twice"):
        PolicySource(folder=folder, clock=FakeClock()).current()
    (folder / "dup.cedar").unlink()
    (folder / "entities.json").write_text(
        '[{"uid": {"type": "Agent", "id": "x"}, "attrs": {}, "parents": []}]'
    )
    with pytest.raises(ConfigError, match=r"entities\.json"):
        PolicySource(folder=folder, clock=FakeClock()).current()
    (folder / "entities.json").write_text(
        '[{"uid": {"type": "Tenant", "id": "t"}, "attrs": {"regions": "eu"}, "parents": []}]'
    )
    with pytest.raises(ConfigError, match=r"entities\.json: invalid Cedar entities"):
        PolicySource(folder=folder, clock=FakeClock()).current()


def test_an_unknown_pack_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policy pack 'nope' is unknown"):
        PolicySource(folder=tmp_path, clock=FakeClock(), packs=["nope"]).current()


def test_a_broken_edit_during_a_run_fails_closed(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    g = gate(folder)
    assert decide_search(g) == "allow"
    (folder / "broken.cedar").write_text("permit (")
    verdict = g.decide_tool(
        TOOLS["search"], {"q": "x"}, HISTORY, tokens_left=1000, tool_calls_left=5
    )
    assert verdict.decision.outcome == "deny"
    assert verdict.decision.reasons == ("tether.policies_invalid",)
    assert "broken.cedar" in verdict.decision.messages[0]


async def test_a_run_with_a_broken_policy_file_is_never_created(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "policies")
    (folder / "broken.cedar").write_text("forbid (principal, action, resource) when { nope };")
    s = Settings(home=tmp_path / "home", workspace=tmp_path, policies=folder)
    rt = Runtime(settings=s, models={"scripted": ScriptedModel(steps=[])})
    with pytest.raises(ConfigError, match=r"broken\.cedar"):
        await rt.run(Agent(name="a", model="scripted"), "hi")
    assert rt.store.runs.list() == []
    rt.close()


def test_the_readme_policy_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```cedar\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 2  # the Policy section's and the Approvals section's
    for n, block in enumerate(blocks):
        (tmp_path / f"readme{n}.cedar").write_text(block)
    policies = PolicySource(folder=tmp_path, clock=FakeClock()).current()
    ids = {"payments.over_100", "payments.cap", "payments.over_1000_two_people"}
    assert ids <= set(policies.policies)
    notes = policies.policies["payments.over_1000_two_people"]["annotations"]
    assert terms_for([notes]) == ApprovalTerms(
        approvers=2, reviewers="finance", timeout_s=4 * 3600, escalate_to="cfo"
    )
