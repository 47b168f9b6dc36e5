"""A policy gate whose tool verdicts pass through one more decision (composable).

``VerdictGate.over(gate, change)`` answers tool calls with ``change(verdict, contract)`` of
``gate``'s verdict, and everything else as ``gate`` would; wrapping a wrapped gate composes.
Feature flags cap autonomy this way (``tether/flags/apply.py``) and shadow runs never wait for
a person (``tether/release/shadow_tools.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tether.governance.gate import PolicyGate, Verdict
from tether.tools.contract import ToolContract
from tether.types import Message

Change = Callable[[Verdict, ToolContract], Verdict]


class VerdictGate(PolicyGate):
    inner: PolicyGate
    change: Change

    @classmethod
    def over(cls, gate: PolicyGate, change: Change) -> VerdictGate:
        made = cls(
            source=gate.source,
            principal=gate.principal,
            regions=gate.regions,
            approved=gate.approved,
            detector=gate.detector,
            state_redacted=gate.state_redacted,
        )
        made.inner, made.change = gate, change
        return made

    def decide_tool(
        self,
        contract: ToolContract,
        arguments: Mapping[str, Any],
        history: Sequence[Message],
        *,
        tokens_left: int,
        tool_calls_left: int,
        extra: Mapping[str, Any] | None = None,
    ) -> Verdict:
        verdict = self.inner.decide_tool(
            contract,
            arguments,
            history,
            tokens_left=tokens_left,
            tool_calls_left=tool_calls_left,
            extra=extra,
        )
        return self.change(verdict, contract)
