"""Multi-agent teams: roles with charters under a protocol and an arbiter, in one run.

``Team``/``Role`` (or a ``kind: team`` YAML file, ``load_team``) declare it; ``Runtime.run``
runs it like an agent. See ``spec`` (declaration), ``arbiter`` (pure decisions), ``run`` (a
turn of a role inside the run), ``protocols`` and ``handoff`` (pipeline, group chat,
supervisor), ``launch`` (run start and end), ``costs`` (per-role costs from the journal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether.team.spec import ArbiterSpec, Role, SuccessMetric, Team, is_team_file, load_team

__all__ = ["ArbiterSpec", "Role", "SuccessMetric", "Team", "as_team", "is_team_file", "load_team"]


def as_team(ref: Any) -> Team | None:
    """``ref`` as a team: a ``Team``, or a path to a ``kind: team`` file; else None."""
    if isinstance(ref, Team):
        return ref
    if isinstance(ref, str | Path) and is_team_file(ref):
        return load_team(ref)
    return None
