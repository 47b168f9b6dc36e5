"""Which version a new run executes: the registered current one, or a canary's candidate.

``route_agent`` is what ``Runtime.start`` calls when the runtime routes by name (``tether run
--agent NAME``, workers, the service): an agent with no current version runs as given; one with
a current version runs that version's snapshot, so a rollback applies without editing files.
"""

from __future__ import annotations

from tether.agent.spec import Agent
from tether.versions.canary import Canaries
from tether.versions.channel import choose
from tether.versions.registry import ALL_TENANTS, VersionStore


def route_agent(versions: VersionStore, agent: Agent, tenant: str, run_id: str) -> Agent:
    """The agent run ``run_id`` of ``tenant`` executes (recording its canary arm, if any)."""
    shared = versions.channel(agent.name)
    own = versions.channel(agent.name, tenant) if tenant != ALL_TENANTS else None
    route = choose(shared, own, run_id)
    if route is None:
        return agent
    if route.arm is not None and route.canary_tenant is not None:
        Canaries(versions).record(run_id, agent.name, route.canary_tenant, route.arm, route.version)
    if route.version == agent.version:
        return agent  # the file is that version: keep its source for messages
    return versions.get(agent.name, route.version).build()
