"""Agent versions as artifacts: registry, eval-gated promotion, rollback and canaries.

``VersionStore`` (registry.py) holds each version's spec snapshot and each agent's current
version; ``Canaries`` (canary.py) routes a share of new runs to a candidate and stops it on a
regression; ``route_agent`` (route.py) is how a run resolves an agent name to a version;
promote.py gates a promotion on the agent's evals. ``tether agents ...`` is the command line.
"""

from tether.versions.canary import ArmStats, Canaries, CanaryStatus, arm_stats, decide
from tether.versions.channel import Channel, Route, Thresholds, bucket, choose
from tether.versions.registry import ALL_TENANTS, AgentVersion, Release, VersionStore, snapshot
from tether.versions.route import route_agent

__all__ = [
    "ALL_TENANTS",
    "AgentVersion",
    "ArmStats",
    "Canaries",
    "CanaryStatus",
    "Channel",
    "Release",
    "Route",
    "Thresholds",
    "VersionStore",
    "arm_stats",
    "bucket",
    "choose",
    "decide",
    "route_agent",
    "snapshot",
]
