"""Feature flags as values: which capability, set to what, for whom (pure).

A flag switches one capability for a tenant, or for one user group of a tenant:

- ``tool:NAME`` ``on|off``: an ``off`` tool is not offered to the model and a call to it is
  refused (``tool_disabled``);
- ``memory_writes`` ``on|off``: ``off`` refuses the memory tools that write and records no
  episode at the finish;
- ``autonomy`` ``none|read|write``: the highest tool tier that runs unattended; a call above it
  waits for a person's approval (``write`` is the approval ladder's own default);
- ``triggers`` or ``trigger:NAME`` ``on|off``: an ``off`` trigger (webhook, schedule) starts
  no run.

For each capability a group's flag overrides its tenant's; a capability with no flag is on
(autonomy: the ladder's default).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tether.errors import UsageError

SWITCH = ("on", "off")
TIERS = ("none", "read", "write")  # autonomy caps, lowest first
_RANK = {"none": 0, "read": 1, "write": 2, "high_risk": 3}
MEMORY_WRITES = "memory_writes"
AUTONOMY = "autonomy"
TRIGGERS = "triggers"
_NAMED = re.compile(r"^(tool|trigger):([A-Za-z0-9_.-]{1,190})$")
KNOWN = "tool:NAME, trigger:NAME, memory_writes, autonomy, triggers"


def check(capability: str, value: str) -> str:
    """``value`` for ``capability``, normalized; a UsageError names the field and the fix."""
    allowed = TIERS if capability == AUTONOMY else SWITCH
    if capability not in (MEMORY_WRITES, AUTONOMY, TRIGGERS) and not _NAMED.match(capability):
        raise UsageError(f"flag capability {capability!r} is not known; use one of: {KNOWN}")
    normal = value.strip().lower()
    if normal not in allowed:
        raise UsageError(
            f"flag {capability!r}: value {value!r} is not one of {', '.join(allowed)}; "
            f"give one of them"
        )
    return normal


@dataclass(frozen=True, kw_only=True)
class Flag:
    tenant: str
    capability: str
    value: str
    group: str | None = None  # None: the whole tenant
    updated_at: datetime | None = None

    @property
    def scope(self) -> str:
        return (
            f"tenant:{self.tenant}" if self.group is None else f"group:{self.tenant}/{self.group}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "group": self.group,
            "capability": self.capability,
            "value": self.value,
            "scope": self.scope,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


@dataclass(frozen=True, kw_only=True)
class Flags:
    """The flags in force for one run: per capability, the group's flag or else the tenant's."""

    by_capability: dict[str, Flag]

    def get(self, capability: str) -> Flag | None:
        return self.by_capability.get(capability)

    def off(self, capability: str) -> Flag | None:
        """The flag switching ``capability`` off, or None when it is on."""
        flag = self.by_capability.get(capability)
        return flag if flag is not None and flag.value == "off" else None

    def tool_off(self, name: str) -> Flag | None:
        return self.off(f"tool:{name}")

    def trigger_off(self, name: str | None) -> Flag | None:
        """The flag that stops trigger ``name`` (its own, else ``triggers``), or None."""
        named = self.by_capability.get(f"trigger:{name}") if name else None
        if named is not None:
            return named if named.value == "off" else None
        return self.off(TRIGGERS)

    def autonomy(self) -> Flag | None:
        """The autonomy cap, when one below the ladder's default is set."""
        flag = self.by_capability.get(AUTONOMY)
        return flag if flag is not None and flag.value != "write" else None


def resolve(flags: Iterable[Flag], tenant: str, group: str | None) -> Flags:
    """The flags in force for ``tenant`` and ``group`` (a group's override its tenant's)."""
    chosen: dict[str, Flag] = {}
    mine = [f for f in flags if f.tenant == tenant and f.group in (None, group)]
    for f in sorted(mine, key=lambda f: f.group is not None):  # tenant first, group over it
        chosen[f.capability] = f
    return Flags(by_capability=chosen)


def above_cap(tier: str, cap: str) -> bool:
    """Whether a tool of ``tier`` (read, write, high_risk) exceeds autonomy ``cap``."""
    return _RANK.get(tier, _RANK["write"]) > _RANK[cap]
