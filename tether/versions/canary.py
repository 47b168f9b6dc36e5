"""Canaries: a share of a tenant's new runs goes to a candidate version, watched and stopped.

``start`` puts a candidate on a channel with its share and thresholds; every run routed while it
runs is a row of ``tether_canary_runs`` (its arm). After each such run finishes, ``watch_run``
compares the arms' finished runs (success rate, mean cost, median latency: ``decide``, pure) and
stops the canary on a regression beyond the thresholds, storing why; later runs then go to the
current version.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tether.errors import UsageError
from tether.store.engine import write_transaction
from tether.store.schema import agent_channels, canary_runs, runs
from tether.types import RunStatus
from tether.versions.channel import Arm, Channel, Thresholds
from tether.versions.registry import ALL_TENANTS, VersionStore, log_release

log = logging.getLogger("tether.versions")
FINAL = [s.value for s in RunStatus if s.is_final]
MONITOR = "canary-monitor"


@dataclass(frozen=True, kw_only=True)
class ArmStats:
    runs: int
    succeeded: int
    mean_cost_micros: float
    median_latency_s: float | None

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.runs if self.runs else 0.0

    def to_json(self) -> dict[str, Any]:
        latency = self.median_latency_s
        return {
            "runs": self.runs,
            "succeeded": self.succeeded,
            "success_rate": round(self.success_rate, 4),
            "mean_cost": round(self.mean_cost_micros / 1_000_000, 6),
            "median_latency_s": None if latency is None else round(latency, 3),
        }


def arm_stats(rows: Iterable[tuple[str, int, float | None]]) -> ArmStats:
    """Stats of finished runs given as (status, cost in micro-units, latency in s or None)."""
    items = list(rows)
    latencies = [lat for _, _, lat in items if lat is not None]
    return ArmStats(
        runs=len(items),
        succeeded=sum(status == RunStatus.SUCCEEDED.value for status, _, _ in items),
        mean_cost_micros=statistics.fmean([c for _, c, _ in items]) if items else 0.0,
        median_latency_s=statistics.median(latencies) if latencies else None,
    )


def decide(current: ArmStats, candidate: ArmStats, t: Thresholds) -> str | None:
    """Why the canary must stop, or None to go on (pure)."""
    if current.runs < t.min_runs or candidate.runs < t.min_runs:
        return None
    if candidate.success_rate < current.success_rate - t.max_drop - 1e-9:
        return (
            f"success rate {candidate.success_rate:.0%} over {candidate.runs} runs is more than "
            f"{t.max_drop:.0%} below the current version's {current.success_rate:.0%} "
            f"over {current.runs} runs"
        )
    grew = _grew(current.mean_cost_micros, candidate.mean_cost_micros, t.max_cost_increase)
    if grew is not None:
        return f"mean cost per run grew by {grew:.0%} (more than {t.max_cost_increase:.0%})"
    grew = _grew(current.median_latency_s, candidate.median_latency_s, t.max_latency_increase)
    if grew is not None:
        return f"median latency grew by {grew:.0%} (more than {t.max_latency_increase:.0%})"
    return None


def _grew(before: float | None, after: float | None, limit: float | None) -> float | None:
    if limit is None or before is None or after is None or before <= 0:
        return None
    growth = after / before - 1
    return growth if growth > limit + 1e-9 else None


@dataclass(frozen=True, kw_only=True)
class CanaryStatus:
    channel: Channel
    current: ArmStats
    candidate: ArmStats

    def to_json(self) -> dict[str, Any]:
        return self.channel.to_json() | {
            "arms": {"current": self.current.to_json(), "candidate": self.candidate.to_json()}
        }


class Canaries:
    """Canary operations over a ``VersionStore``'s engine."""

    def __init__(self, versions: VersionStore) -> None:
        self.versions = versions
        self.engine = versions.engine

    def start(
        self,
        agent: str,
        candidate: str,
        share: float,
        thresholds: Thresholds,
        *,
        tenant: str = ALL_TENANTS,
        by: str,
    ) -> Channel:
        """Route ``share`` of the tenant's new runs to ``candidate`` (registered)."""
        if not 0 < share < 1:
            raise UsageError(f"--share is {share}; give a fraction between 0 and 1, e.g. 0.2")
        current = self.versions.current(agent, tenant)
        if current is None:
            raise UsageError(
                f"agent {agent!r} has no current version to compare a canary with; promote one "
                "first (`tether agents promote NAME`)"
            )
        candidate = self.versions.get(agent, candidate).version
        if candidate == current:
            raise UsageError(f"version {candidate} of {agent!r} is current already; no canary")
        now = datetime.now(UTC)
        values = {
            "candidate_version": candidate,
            "canary_share": share,
            "canary_state": "running",
            "canary_reason": None,
            "canary_started_at": now,
            "thresholds": json.dumps(thresholds.to_json()),
            "updated_at": now,
        }
        with write_transaction(self.engine) as conn:
            updated = conn.execute(
                sa.update(agent_channels).where(_key(agent, tenant)).values(**values)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(agent_channels).values(agent=agent, tenant=tenant, **values))
            reason = f"share {share:.0%} against {current}"
            log_release(conn, agent, tenant, "canary_start", candidate, current, reason, by)
        channel = self.versions.channel(agent, tenant)
        assert channel is not None
        return channel

    def stop(self, agent: str, reason: str, *, tenant: str = ALL_TENANTS, by: str) -> bool:
        """Stop the channel's running canary; False when none was running (another process
        may have stopped it first: exactly one stop is recorded)."""
        running = _key(agent, tenant) & (agent_channels.c.canary_state == "running")
        with write_transaction(self.engine) as conn:
            version = conn.execute(
                sa.select(agent_channels.c.candidate_version).where(running)
            ).scalar()
            stopped = conn.execute(
                sa.update(agent_channels)
                .where(running)
                .values(canary_state="stopped", canary_reason=reason, updated_at=datetime.now(UTC))
            ).rowcount
            if stopped:
                action = "canary_auto_stop" if by == MONITOR else "canary_stop"
                log_release(conn, agent, tenant, action, version, None, reason, by)
        return bool(stopped)

    def record(self, run_id: str, agent: str, tenant: str, arm: Arm, version: str) -> None:
        """Note the arm a run was routed to (before the run exists)."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                sa.insert(canary_runs).values(
                    run_id=run_id,
                    agent=agent,
                    tenant=tenant,
                    arm=arm,
                    version=version,
                    created_at=datetime.now(UTC),
                )
            )

    def status(self, agent: str, tenant: str = ALL_TENANTS) -> CanaryStatus:
        channel = self.versions.channel(agent, tenant)
        if channel is None or channel.canary_started_at is None:
            where = f" for tenant {tenant!r}" if tenant else ""
            raise UsageError(
                f"agent {agent!r} has no canary{where}; start one with "
                "`tether agents canary NAME --file FILE --share 0.2`"
            )
        arms = self._arms(agent, tenant, channel.canary_started_at)
        return CanaryStatus(channel=channel, current=arms["current"], candidate=arms["candidate"])

    def _arms(self, agent: str, tenant: str, since: datetime) -> dict[str, ArmStats]:
        stmt = (
            sa.select(
                canary_runs.c.arm,
                runs.c.status,
                runs.c.cost_micros,
                runs.c.created_at,
                runs.c.finished_at,
            )
            .join(runs, runs.c.id == canary_runs.c.run_id)
            .where(
                canary_runs.c.agent == agent,
                canary_runs.c.tenant == tenant,
                canary_runs.c.created_at >= since,
                runs.c.status.in_(FINAL),
            )
        )
        rows: dict[str, list[tuple[str, int, float | None]]] = {"current": [], "candidate": []}
        with self.engine.connect() as conn:
            for arm, status, cost, created, finished in conn.execute(stmt):
                latency = (finished - created).total_seconds() if finished else None
                rows.setdefault(arm, []).append((status, int(cost or 0), latency))
        return {arm: arm_stats(items) for arm, items in rows.items()}

    def watch_run(self, run_id: str) -> str | None:
        """After a run finished: if a canary routed it and still runs, judge the canary and
        stop it on a regression. Returns the reason it was stopped, or None."""
        stmt = sa.select(canary_runs.c.agent, canary_runs.c.tenant).where(
            canary_runs.c.run_id == run_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        agent, tenant = row
        channel = self.versions.channel(agent, tenant)
        if channel is None or not channel.canary_running or channel.canary_started_at is None:
            return None
        arms = self._arms(agent, tenant, channel.canary_started_at)
        reason = decide(arms["current"], arms["candidate"], channel.thresholds)
        if reason is None:
            return None
        why = f"candidate {channel.candidate_version}: {reason}"
        if self.stop(agent, why, tenant=tenant, by=MONITOR):
            log.warning("canary of agent %r stopped: %s", agent, why)
        return why


def _key(agent: str, tenant: str) -> sa.ColumnElement[bool]:
    return (agent_channels.c.agent == agent) & (agent_channels.c.tenant == tenant)
