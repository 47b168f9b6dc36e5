"""Remembered decisions (tether.governance.recall): a repeated request is not asked of Cedar
again, and a remembered decision is always the one Cedar would give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cedarpy
import pytest

from tests.governance.fixtures import TOOLS, gate, write_project
from tests.governance.test_policy_table import CASES, decide, decide_on
from tether.governance.gate import PolicyGate
from tether.governance.recall import context_key, context_reads
from tether.types import UserMessage

WHOLE_CONTEXT = """
@id("odd.whole_context")
permit (principal, action == Action::"invoke", resource == Tool::"search")
when { context == context };
"""


def test_policies_read_the_context_attributes_they_name(tmp_path: Path) -> None:
    policies = gate(write_project(tmp_path / "p")).source.current().policies
    reads = context_reads(policies.values())
    assert reads is not None
    assert {"tokens_left", "origin_labels", "data_labels", "tainted"} <= reads
    assert "tool_calls_left" not in reads  # no policy here reads it
    odd = gate(write_project(tmp_path / "q", WHOLE_CONTEXT)).source.current().policies
    assert context_reads([odd["odd.whole_context"]]) is None
    assert context_reads(odd.values()) is None


def test_the_key_keeps_what_is_read_and_the_shape_of_the_rest() -> None:
    reads = frozenset({"a"})
    base = {"a": 1, "b": 2}
    assert context_key(reads, base) == context_key(reads, {"b": 3, "a": 1})
    assert context_key(reads, base) != context_key(reads, {"a": 2, "b": 2})
    assert context_key(reads, base) != context_key(reads, {"a": 1, "b": "2"})  # a type
    assert context_key(reads, base) != context_key(reads, {"a": 1})  # an attribute less
    assert context_key(None, base) != context_key(None, {"a": 1, "b": 3})


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_remembered_decisions_are_the_ones_cedar_gives(tmp_path: Path, order: str) -> None:
    """One gate decides every case of the decision table, each after all the others have
    filled its caches; each decision equals a fresh gate's (no cache), case by case."""
    folder = write_project(tmp_path / "policies")
    cases = CASES if order == "forward" else CASES[::-1]
    shared: dict[tuple[tuple[str, Any], ...], PolicyGate] = {}
    for _ in range(2):
        for case in cases:
            key = tuple(sorted(case.principal.items()))
            g = shared.setdefault(key, gate(folder, **case.principal))
            assert decide_on(g, case) == decide(case, folder), case.name


def test_a_budget_the_policies_read_is_never_served_from_memory(tmp_path: Path) -> None:
    g = gate(write_project(tmp_path / "policies"))
    write = TOOLS["send_email"]
    args = {"to": "a", "body": "b"}
    history = [UserMessage(content="goal")]
    outcomes = [
        g.decide_tool(write, args, history, tokens_left=left, tool_calls_left=5).decision.outcome
        for left in (5_000, 50, 5_000, 50)
    ]
    assert outcomes == ["allow", "require_approval", "allow", "require_approval"]


def test_a_repeat_is_not_asked_again_until_the_policies_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    real = cedarpy.is_authorized_batch

    def counting(*args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cedarpy, "is_authorized_batch", counting)
    folder = write_project(tmp_path / "policies")
    g = gate(folder)
    search, history = TOOLS["search"], [UserMessage(content="goal")]
    first = g.decide_tool(search, {"q": "x"}, history, tokens_left=900, tool_calls_left=9)
    again = g.decide_tool(search, {"q": "x"}, history, tokens_left=900, tool_calls_left=8)
    assert first.decision == again.decision and first.decision.allowed
    assert len(asked) == 1  # no policy reads tool_calls_left
    assert again.context["tool_calls_left"] == 8  # journaled with the call's own facts
    g.decide_tool(search, {"q": "x"}, history, tokens_left=800, tool_calls_left=8)
    assert len(asked) == 2  # a policy reads tokens_left: another value is asked
    policy = folder / "project.cedar"
    policy.write_text(policy.read_text() + "\n// edited\n")  # another size: reloaded
    g.decide_tool(search, {"q": "x"}, history, tokens_left=800, tool_calls_left=8)
    assert len(asked) == 3
