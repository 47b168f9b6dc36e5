"""A release channel (per agent, per tenant or for every tenant) and how a run picks its version.

The decision is pure: ``choose`` takes the channels and the run id and returns the version and,
while a canary runs, its arm. A run goes to the candidate when the hash of its id falls in the
canary's share, so the same run id always gets the same answer in any process.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

Arm = Literal["current", "candidate"]
CanaryState = Literal["none", "running", "stopped"]


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """When the canary monitor stops a canary (candidate against current, over finished runs).

    ``max_drop``: the success rate may fall at most this much (absolute); ``max_cost_increase``
    and ``max_latency_increase``: mean cost and median latency may grow at most by this
    fraction (None: not checked); nothing is judged before each arm has ``min_runs`` runs.
    """

    max_drop: float = 0.1
    min_runs: int = 20
    max_cost_increase: float | None = 0.5
    max_latency_increase: float | None = 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Thresholds:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True, kw_only=True)
class Channel:
    agent: str
    tenant: str  # "" for every tenant
    current_version: str | None
    candidate_version: str | None = None
    canary_share: float = 0.0
    canary_state: CanaryState = "none"
    canary_reason: str | None = None
    canary_started_at: datetime | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    updated_at: datetime | None = None

    @property
    def canary_running(self) -> bool:
        return self.canary_state == "running" and self.candidate_version is not None

    def to_json(self) -> dict[str, Any]:
        started = self.canary_started_at
        return {
            "agent": self.agent,
            "tenant": self.tenant or None,
            "current_version": self.current_version,
            "candidate_version": self.candidate_version,
            "canary_share": self.canary_share,
            "canary_state": self.canary_state,
            "canary_reason": self.canary_reason,
            "canary_started_at": started.isoformat() if started else None,
            "thresholds": self.thresholds.to_json(),
        }


def channel_from_row(row: sa.Row[Any]) -> Channel:
    return Channel(
        agent=row.agent,
        tenant=row.tenant,
        current_version=row.current_version,
        candidate_version=row.candidate_version,
        canary_share=float(row.canary_share),
        canary_state=row.canary_state,
        canary_reason=row.canary_reason,
        canary_started_at=row.canary_started_at,
        thresholds=Thresholds.from_json(json.loads(row.thresholds or "{}")),
        updated_at=row.updated_at,
    )


@dataclass(frozen=True, kw_only=True)
class Route:
    """The version a run executes; ``arm`` and ``tenant`` (its channel's) while a canary runs."""

    version: str
    arm: Arm | None = None
    canary_tenant: str | None = None


def bucket(agent: str, run_id: str) -> float:
    """Where a run id falls in [0, 1): the same for every process and every call."""
    digest = hashlib.sha256(f"{agent}\0{run_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(shared: Channel | None, own: Channel | None, run_id: str) -> Route | None:
    """The version of a run of the channels' agent (None: no current version registered).

    The tenant's own channel wins over the shared one for the current version and the canary.
    """
    current = (own.current_version if own else None) or (shared.current_version if shared else None)
    if current is None:
        return None
    canary = next((c for c in (own, shared) if c is not None and c.canary_running), None)
    if canary is None or canary.candidate_version is None:
        return Route(version=current)
    if bucket(canary.agent, run_id) < canary.canary_share:
        return Route(version=canary.candidate_version, arm="candidate", canary_tenant=canary.tenant)
    return Route(version=current, arm="current", canary_tenant=canary.tenant)
