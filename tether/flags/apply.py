"""Feature flags in a run: what the runtime changes for the flags in force, and the journal's
``flag_applied`` events that show it.

``apply_flags`` takes a run's context and its flags and returns the context's new tools,
executor and gate (``VerdictGate``: the autonomy cap); ``enforce_flags`` loads the flags
and journals what they changed. A start refuses a trigger's run when its trigger is off
(``refuse_trigger``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from tether.errors import CapabilityDisabled, ToolDisabled
from tether.events import Event, EventKey, FlagApplied
from tether.flags.model import MEMORY_WRITES, Flag, Flags, above_cap
from tether.flags.store import FlagStore
from tether.governance.decision import Decision
from tether.governance.gate import Verdict
from tether.governance.verdicts import VerdictGate
from tether.tools import PreparedCall, ToolRegistry
from tether.tools.contract import Tool, ToolContract
from tether.tools.resilience import ToolRunner
from tether.tools.resilience._base import ToolRunnerWrapper
from tether.types import ToolCall

if TYPE_CHECKING:
    from tether.agent.context import RunContext
    from tether.store import Store

# the memory tools that write (tether/memory/tools.py); a test keeps this list complete
MEMORY_WRITE_TOOLS = frozenset({"remember_preference"})
FLAG_REASON = "tether.flag.autonomy"


def load_flags(store: Store, tenant: str, group: str | None) -> Flags:
    return FlagStore(store.engine).effective(tenant, group)


def refuse_trigger(flags: Flags, tenant: str, origin: Mapping[str, Any] | None) -> None:
    """Raise CapabilityDisabled when ``origin`` is a trigger or schedule whose flag is off."""
    origin = origin or {}
    name = origin.get("trigger") or origin.get("schedule")
    if not name:
        return
    flag = flags.trigger_off(str(name))
    if flag is not None:
        raise CapabilityDisabled(
            f"trigger {name!r} starts no run: flag {flag.capability!r} is off for "
            f"{flag.scope}; turn it on with `tether flags set {flag.capability} on "
            f"--tenant {tenant}`"
        )


class FlaggedTools(ToolRunnerWrapper):
    """Refuses calls to the tools a flag switched off, with the flag's message."""

    def __init__(self, inner: ToolRunner, off: Sequence[Tool], why: Mapping[str, str]) -> None:
        super().__init__(inner)
        self._off = ToolRegistry(off)
        self._why = dict(why)

    def prepare(self, registry: ToolRegistry, call: ToolCall) -> PreparedCall:
        try:
            tool = self._off.resolve(call.name)
        except Exception:
            return self.inner.prepare(registry, call)
        raise ToolDisabled(self._why[tool.name], tool=tool.name)


def _cap(cap: Flag, verdict: Verdict, contract: ToolContract) -> Verdict:
    return capped(verdict, contract.side_effect, cap)


def capped(verdict: Verdict, tier: str, cap: Flag) -> Verdict:
    """An allowed call above the autonomy cap waits for a person instead (pure)."""
    d = verdict.decision
    if d.outcome != "allow" or not above_cap(tier, cap.value):
        return verdict
    message = (
        f"autonomy is capped at {cap.value!r} for {cap.scope} by a feature flag: this "
        f"{tier} call waits for a person (tether approvals)"
    )
    decision = Decision(
        outcome="require_approval",
        action=d.action,
        principal=d.principal,
        resource=d.resource,
        reasons=(FLAG_REASON,),
        messages=(message,),
    )
    return replace(verdict, decision=decision)


def _tools_off(ctx: RunContext, flags: Flags) -> tuple[dict[str, str], list[tuple[Flag, str]]]:
    why: dict[str, str] = {}
    effects: list[tuple[Flag, str]] = []
    for tool in ctx.registry:
        flag = flags.tool_off(tool.name)
        if flag is not None:
            why[tool.name] = (
                f"tool {tool.name!r} is switched off for {flag.scope} by a feature flag; "
                f"it cannot be called (`tether flags unset {flag.capability}` turns it back on)"
            )
            effects.append((flag, f"tool {tool.name!r} is not offered; calls are refused"))
    memory = flags.off(MEMORY_WRITES)
    if memory is not None and ctx.agent.memory is not None:
        writes = [
            t.name for t in ctx.registry if t.name in MEMORY_WRITE_TOOLS and t.name not in why
        ]
        for name in writes:
            why[name] = (
                f"memory writes are switched off for {memory.scope} by a feature flag; "
                f"{name!r} is refused"
            )
        episodes = ctx.agent.memory.records_episodes and ctx.memory is not None
        if episodes:
            ctx.memory = None  # the finish records no episode
        if writes or episodes:
            shown = ", ".join(writes) or "none"
            effects.append(
                (memory, f"memory writes refused (tools: {shown}; episode recorded: no)")
            )
    return why, effects


def apply_flags(ctx: RunContext, flags: Flags) -> list[tuple[EventKey, FlagApplied]]:
    """Switch off the run's flagged tools and memory writes and cap its autonomy; returns the
    ``flag_applied`` events saying what changed (none when the flags change nothing)."""
    why, effects = _tools_off(ctx, flags)
    if why:
        off = [t for t in ctx.registry if t.name in why]
        ctx.registry = ToolRegistry([t for t in ctx.registry if t.name not in why])
        ctx.executor = FlaggedTools(ctx.executor, off, why)
    cap = flags.autonomy()
    if cap is not None and ctx.gate is not None:
        above = [c.name for c in ctx.registry.contracts() if above_cap(c.side_effect, cap.value)]
        if above:
            ctx.gate = VerdictGate.over(ctx.gate, partial(_cap, cap))
            effects.append(
                (cap, f"calls of {', '.join(above)} wait for a person (autonomy {cap.value!r})")
            )
    step = ctx.state.steps
    return [
        (
            ctx.key(step, "flag_applied", i),
            FlagApplied(capability=f.capability, value=f.value, scope=f.scope, effect=effect),
        )
        for i, (f, effect) in enumerate(effects)
    ]


async def enforce_flags(ctx: RunContext, flags: Flags) -> None:
    """Apply ``flags`` to a starting run and journal what they changed."""
    events = apply_flags(ctx, flags)
    if events:
        await ctx.record_many(list(events))


def enforce_flags_sync(ctx: RunContext, flags: Flags) -> None:
    """As ``enforce_flags``, for a run rebuilt in a new segment (idempotent on replay)."""
    events = apply_flags(ctx, flags)
    if not events:
        return
    now = ctx.clock.now()
    stored = ctx.store.journal.store([Event(key=k, payload=p, ts=now) for k, p in events])
    for event in stored:
        ctx.state.apply(event)
        ctx.applied.add(event.id)


async def load_flags_async(store: Store, tenant: str, group: str | None) -> Flags:
    return await asyncio.to_thread(load_flags, store, tenant, group)
