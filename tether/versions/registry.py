"""Registered agent versions and the current version of each agent (``tether_agent_versions``).

A version is an artifact: the agent's portable spec (instructions, model, tools with their
contract versions, policies, limits) stored as JSON under its content hash, so any process can
run it without the agent's file. ``promote`` makes a version current, ``rollback`` makes the
version current before it (or a named one) current again; each change is a row of
``tether_agent_releases`` (what, from which version, why, by whom).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tether.agent.spec import Agent, AgentSpec, agent_from_spec
from tether.errors import ConfigError, UsageError
from tether.store.engine import write_transaction
from tether.store.schema import agent_channels, agent_releases, agent_versions
from tether.versions.channel import Channel, channel_from_row

ALL_TENANTS = ""  # the channel every tenant uses unless it has one of its own


@dataclass(frozen=True, kw_only=True)
class AgentVersion:
    agent: str
    version: str
    spec: dict[str, Any]  # the portable AgentSpec as JSON
    tools: tuple[tuple[str, str], ...]  # (tool, contract version)
    created_at: datetime
    registered_by: str
    source: str
    eval_report: str | None

    def build(self) -> Agent:
        """The agent this version describes (its tools resolved in this process)."""
        spec = AgentSpec.model_validate(self.spec)
        return agent_from_spec(spec, source=f"{self.agent}@{self.version}")

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "registered_by": self.registered_by,
            "source": self.source,
            "eval_report": self.eval_report,
            "tools": [list(t) for t in self.tools],
            "spec": self.spec,
        }


@dataclass(frozen=True, kw_only=True)
class Release:
    """One change of a channel: register, promote, refuse, rollback, canary start or stop."""

    id: int
    agent: str
    tenant: str
    action: str
    version: str | None
    from_version: str | None
    reason: str | None
    actor: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "tenant": self.tenant,
            "action": self.action,
            "version": self.version,
            "from_version": self.from_version,
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at.isoformat(),
        }


def snapshot(agent: Agent) -> dict[str, Any]:
    """The agent's portable spec, checked to rebuild into the same version elsewhere."""
    spec = agent.portable_spec().model_dump(mode="json")
    fix = "define its tools in an importable module (not __main__ or a closure) and retry"
    try:
        rebuilt = agent_from_spec(AgentSpec.model_validate(spec), source=agent.source).version
    except ConfigError as exc:
        raise ConfigError(
            f"agent {agent.name!r} cannot be registered: its spec does not rebuild in another "
            f"process ({exc}); {fix}"
        ) from exc
    if rebuilt != agent.version:
        raise ConfigError(
            f"agent {agent.name!r} ({agent.source}): its spec rebuilds into another version "
            f"({rebuilt} != {agent.version}); {fix}"
        )
    return spec


class VersionStore:
    """Agent versions, channels and release history over one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # --- versions -------------------------------------------------------------------------

    def register(self, agent: Agent, *, by: str, eval_report: str | None = None) -> AgentVersion:
        """Store ``agent``'s version (once; a later ``eval_report`` replaces the reference)."""
        spec = snapshot(agent)
        tools = [[t.contract.name, t.contract.version] for t in agent.resolved_tools()]
        now = datetime.now(UTC)
        key = (agent_versions.c.agent == agent.name) & (agent_versions.c.version == agent.version)
        with write_transaction(self.engine) as conn:
            if conn.execute(sa.select(agent_versions.c.version).where(key)).first() is None:
                conn.execute(
                    sa.insert(agent_versions).values(
                        agent=agent.name,
                        version=agent.version,
                        spec=json.dumps(spec, sort_keys=True),
                        tools=json.dumps(tools),
                        created_at=now,
                        registered_by=by,
                        source=agent.source,
                        eval_report=eval_report,
                    )
                )
                log_release(
                    conn, agent.name, ALL_TENANTS, "register", agent.version, None, None, by
                )
            elif eval_report is not None:
                conn.execute(sa.update(agent_versions).where(key).values(eval_report=eval_report))
        return self.get(agent.name, agent.version)

    def get(self, agent: str, version: str) -> AgentVersion:
        """A version by its hash or a unique prefix of it; UsageError naming the known ones."""
        stmt = sa.select(agent_versions).where(
            agent_versions.c.agent == agent, agent_versions.c.version.startswith(version)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(2)).all()
        if len(rows) == 1 and version:
            return _version(rows[0])
        known = ", ".join(v.version for v in self.versions(agent)[:5]) or "none"
        what = "is ambiguous" if len(rows) > 1 else "is not registered"
        raise UsageError(
            f"agent {agent!r} version {version!r} {what} (registered: {known}); "
            "see `tether agents show NAME`"
        )

    def versions(self, agent: str) -> list[AgentVersion]:
        """The agent's versions, newest first."""
        stmt = (
            sa.select(agent_versions)
            .where(agent_versions.c.agent == agent)
            .order_by(agent_versions.c.created_at.desc(), agent_versions.c.version)
        )
        with self.engine.connect() as conn:
            return [_version(r) for r in conn.execute(stmt)]

    def agents(self) -> list[str]:
        """Every agent with a registered version or a channel, by name."""
        with self.engine.connect() as conn:
            names = set(conn.scalars(sa.select(agent_versions.c.agent).distinct()))
            names |= set(conn.scalars(sa.select(agent_channels.c.agent).distinct()))
        return sorted(names)

    # --- channels -------------------------------------------------------------------------

    def channel(self, agent: str, tenant: str = ALL_TENANTS) -> Channel | None:
        stmt = sa.select(agent_channels).where(
            agent_channels.c.agent == agent, agent_channels.c.tenant == tenant
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else channel_from_row(row)

    def channels(self, agent: str) -> list[Channel]:
        stmt = (
            sa.select(agent_channels)
            .where(agent_channels.c.agent == agent)
            .order_by(agent_channels.c.tenant)
        )
        with self.engine.connect() as conn:
            return [channel_from_row(r) for r in conn.execute(stmt)]

    def current(self, agent: str, tenant: str = ALL_TENANTS) -> str | None:
        """The version the tenant's runs use: its own channel's current, else every tenant's."""
        own = self.channel(agent, tenant) if tenant != ALL_TENANTS else None
        if own is not None and own.current_version:
            return own.current_version
        shared = self.channel(agent)
        return shared.current_version if shared is not None else None

    def promote(
        self,
        agent: str,
        version: str,
        *,
        by: str,
        reason: str | None = None,
        tenant: str = ALL_TENANTS,
    ) -> str | None:
        """Make ``version`` (registered) current for every tenant, or for ``tenant`` only
        (its own channel, over the shared one); returns the version that was current there.

        A running canary ends (its candidate was decided on): every one of the agent's for a
        promotion for every tenant, the tenant's own for a tenant's."""
        full = self.get(agent, version).version
        return self._set_current(agent, full, "promote", by, reason, tenant)

    def rollback(
        self, agent: str, to: str | None = None, *, by: str, tenant: str = ALL_TENANTS
    ) -> tuple[str, str]:
        """Make the version before the current one (or ``to``) current, for every tenant or
        for ``tenant`` only; (from, to)."""
        now_current = self.current(agent, tenant)
        if now_current is None:
            raise UsageError(
                f"agent {agent!r} has no current version to roll back; promote one first "
                "(`tether agents promote NAME`)"
            )
        target = self.get(agent, to).version if to else self.previous(agent, now_current, tenant)
        if target == now_current:
            raise UsageError(f"agent {agent!r} already runs version {target}; name another")
        why = f"rolled back from {now_current}"
        self._set_current(agent, target, "rollback", by, why, tenant)
        return now_current, target

    def previous(self, agent: str, version: str, tenant: str = ALL_TENANTS) -> str:
        """The version that was current (for ``tenant``) before ``version`` was last promoted
        there; a tenant that never had a promotion of its own goes by every tenant's."""
        scopes = dict.fromkeys([tenant, ALL_TENANTS])
        history = self.history(agent)
        for scope in scopes:
            found = next(
                (
                    r
                    for r in history
                    if r.action == "promote" and r.version == version and r.tenant == scope
                ),
                None,
            )
            if found is not None and found.from_version:
                return found.from_version
        raise UsageError(
            f"agent {agent!r}: no version was current before {version}; name one with "
            "--to VERSION (see `tether agents show NAME`)"
        )

    def _set_current(
        self,
        agent: str,
        version: str,
        action: str,
        by: str,
        reason: str | None,
        tenant: str = ALL_TENANTS,
    ) -> str | None:
        now = datetime.now(UTC)
        key = (agent_channels.c.agent == agent) & (agent_channels.c.tenant == tenant)
        shared = (agent_channels.c.agent == agent) & (agent_channels.c.tenant == ALL_TENANTS)
        with write_transaction(self.engine) as conn:
            row = conn.execute(sa.select(agent_channels.c.current_version).where(key)).first()
            previous = row[0] if row is not None else None
            if not previous and tenant != ALL_TENANTS:  # it ran the shared version until now
                previous = conn.scalar(sa.select(agent_channels.c.current_version).where(shared))
            if row is None:
                conn.execute(
                    sa.insert(agent_channels).values(
                        agent=agent, tenant=tenant, current_version=version, updated_at=now
                    )
                )
            else:
                conn.execute(
                    sa.update(agent_channels)
                    .where(key)
                    .values(current_version=version, updated_at=now)
                )
            log_release(conn, agent, tenant, action, version, previous, reason, by)
            running = (agent_channels.c.agent == agent) & (
                agent_channels.c.canary_state == "running"
            )
            if tenant != ALL_TENANTS:
                running = running & (agent_channels.c.tenant == tenant)
            ended = conn.execute(
                sa.update(agent_channels)
                .where(running)
                .values(canary_state="stopped", canary_reason=f"version {version} made current")
                .returning(agent_channels.c.tenant)
            ).all()
            for (where,) in ended:
                log_release(
                    conn, agent, where, "canary_stop", version, None, f"{action} {version}", by
                )
        return previous

    # --- history --------------------------------------------------------------------------

    def history(self, agent: str, limit: int = 100) -> list[Release]:
        """The agent's release history, newest first."""
        stmt = (
            sa.select(agent_releases)
            .where(agent_releases.c.agent == agent)
            .order_by(agent_releases.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Release(**dict(r._mapping)) for r in conn.execute(stmt)]

    def log(
        self,
        agent: str,
        action: str,
        version: str | None,
        *,
        by: str,
        reason: str | None = None,
        tenant: str = ALL_TENANTS,
        from_version: str | None = None,
    ) -> None:
        """Record a release action that changes no channel (a refused promotion)."""
        with write_transaction(self.engine) as conn:
            log_release(conn, agent, tenant, action, version, from_version, reason, by)


def log_release(
    conn: sa.Connection,
    agent: str,
    tenant: str,
    action: str,
    version: str | None,
    from_version: str | None,
    reason: str | None,
    actor: str,
) -> None:
    conn.execute(
        sa.insert(agent_releases).values(
            agent=agent,
            tenant=tenant,
            action=action,
            version=version,
            from_version=from_version,
            reason=reason,
            actor=actor,
            at=datetime.now(UTC),
        )
    )


def _version(row: sa.Row[Any]) -> AgentVersion:
    tools: Sequence[Sequence[str]] = json.loads(row.tools)
    return AgentVersion(
        agent=row.agent,
        version=row.version,
        spec=json.loads(row.spec),
        tools=tuple((str(t[0]), str(t[1])) for t in tools),
        created_at=row.created_at,
        registered_by=row.registered_by,
        source=row.source,
        eval_report=row.eval_report,
    )
