"""Teams: roles with charters under one protocol and an arbiter, declared in YAML or Python.

A team file says ``kind: team``; each role references an agent file (``agent: writer.yaml``,
relative to the team file) or declares its agent inline (``agent: {instructions: ..., tools:
[...]}``), and adds its charter: extra ``instructions``, a ``budget`` and a ``success`` metric.
Errors name the file and the field, and say what to fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.agent.spec import NAME_PATTERN, Agent, AgentSpec, agent_from_spec, load_agent
from tether.agent.specfile import read_mapping, validate
from tether.errors import AgentSpecError
from tether.governance.budget import Budget

Protocol = Literal["pipeline", "supervisor", "group_chat"]
ConflictRule = Literal["supervisor", "majority", "first", "last", "priority"]


class SuccessMetric(BaseModel):
    """A role's success metric, checked on each of its outputs (journaled per turn)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contains: list[str] = Field(default_factory=list, description="texts the output must hold")
    regex: str | None = Field(default=None, description="a pattern the output must match")
    min_chars: int = Field(default=1, ge=0, description="shortest acceptable output")

    def check(self, output: str | None) -> bool:
        text = output or ""
        if len(text.strip()) < self.min_chars:
            return False
        if any(c.lower() not in text.lower() for c in self.contains):
            return False
        return self.regex is None or re.search(self.regex, text) is not None


class ArbiterSpec(BaseModel):
    """The rules the arbiter enforces over every protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_turns: int = Field(default=8, ge=1, le=1000, description="role turns per run")
    max_repeats: int = Field(
        default=1, ge=1, description="times a role may say (or be handed) the same thing again"
    )
    no_progress_turns: int = Field(
        default=3, ge=1, description="consecutive turns with nothing new before stopping"
    )
    conflict: ConflictRule = Field(
        default="last", description="which proposal wins: supervisor/majority/first/last/priority"
    )
    priority: list[str] = Field(default_factory=list, description="roles, highest first")


class RoleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    agent: str | dict[str, Any] = Field(description="an agent file or an inline agent spec")
    instructions: str = Field(default="", description="the role's charter, added to the agent's")
    model: str | None = Field(default=None, description="the role's model (default: agent's)")
    tools: list[str] | None = Field(default=None, description="the role's tools (default: agent's)")
    budget: Budget = Field(default_factory=Budget, description="what the role may spend")
    success: SuccessMetric | None = None
    description: str = ""


class TeamSpec(BaseModel):
    """The validated, serializable form of a team (what a team file holds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["team"] = "team"
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    protocol: Protocol
    roles: list[RoleSpec] = Field(min_length=1)
    manager: str | None = Field(default=None, description="supervisor: the delegating role")
    order: list[str] = Field(default_factory=list, description="turn order (default: roles)")
    selector: Literal["round_robin", "mention"] = "round_robin"
    until: str | None = Field(
        default=None, description="group_chat: a message holding this text ends the chat"
    )
    arbiter: ArbiterSpec = Field(default_factory=ArbiterSpec)
    budget: Budget = Field(default_factory=Budget, description="what the whole team may spend")


@dataclass(frozen=True, kw_only=True)
class Role:
    """One role: an agent plus its charter (instructions, budget, success metric)."""

    name: str
    agent: Agent
    instructions: str = ""
    model: str | None = None  # overrides the agent's
    tools: Sequence[str] | None = None  # overrides the agent's (tool names or refs)
    budget: Budget = field(default_factory=Budget)
    success: SuccessMetric | None = None
    description: str = ""

    def charter_agent(self) -> Agent:
        """The agent this role runs as: its name, the charter added to its instructions,
        the role's model, tools and budget where it declares them (else the agent's)."""
        extra = f"\n\nYour role in the team: {self.name}. {self.instructions}".rstrip()
        return replace(
            self.agent,
            name=self.name,
            instructions=self.agent.instructions + (extra if self.instructions else ""),
            model=self.model or self.agent.model,
            tools=list(self.tools) if self.tools is not None else self.agent.tools,
            budget=self.budget if not self.budget.empty else self.agent.budget,
        )

    def spec(self) -> RoleSpec:
        portable = self.agent.portable_spec().model_dump(mode="json")
        return RoleSpec(
            name=self.name,
            agent=portable,
            instructions=self.instructions,
            model=self.model,
            tools=None if self.tools is None else list(self.tools),
            budget=self.budget,
            success=self.success,
            description=self.description,
        )


@dataclass(frozen=True, kw_only=True)
class Team:
    """A team: roles, a protocol, an arbiter and a total budget. Validated on creation."""

    name: str
    protocol: Protocol
    roles: Sequence[Role]
    manager: str | None = None
    order: Sequence[str] = ()
    selector: Literal["round_robin", "mention"] = "round_robin"
    until: str | None = None
    arbiter: ArbiterSpec = field(default_factory=ArbiterSpec)
    budget: Budget = field(default_factory=Budget)
    description: str = ""
    source: str = "<python>"

    def __post_init__(self) -> None:
        check_team(self.spec(), self.source)
        for i, role in enumerate(self.roles):
            try:
                role.charter_agent()  # the role's own model and tools, validated
            except AgentSpecError as exc:
                raise AgentSpecError(f"{self.source}: field 'roles.{i}': {exc}") from exc

    def role(self, name: str) -> Role:
        return next(r for r in self.roles if r.name == name)

    @property
    def turn_order(self) -> list[str]:
        return list(self.order) or [r.name for r in self.roles]

    def spec(self) -> TeamSpec:
        return validate(
            TeamSpec,
            {
                "name": self.name,
                "description": self.description,
                "protocol": self.protocol,
                "roles": [r.spec() for r in self.roles],
                "manager": self.manager,
                "order": list(self.order),
                "selector": self.selector,
                "until": self.until,
                "arbiter": self.arbiter,
                "budget": self.budget,
            },
            self.source,
        )

    @property
    def version(self) -> str:
        body = self.spec().model_dump(mode="json", exclude={"roles"})
        body["roles"] = [[r.name, r.charter_agent().version] for r in self.roles]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def check_team(spec: TeamSpec, source: str) -> None:
    """Cross-field rules; each error names the field."""
    names = [r.name for r in spec.roles]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        _fail(source, "roles", f"role names repeat ({', '.join(dupes)}); give each a new name")
    known = ", ".join(names)
    for where, refs in (("order", spec.order), ("arbiter.priority", spec.arbiter.priority)):
        for ref in refs:
            if ref not in names:
                _fail(source, where, f"no role {ref!r} (roles: {known}); name one of them")
    if spec.protocol == "supervisor":
        if spec.manager is None:
            _fail(source, "manager", "a supervisor team needs a manager role; name one")
        if spec.manager not in names:
            _fail(source, "manager", f"no role {spec.manager!r} (roles: {known})")
        if len(names) < 2:
            _fail(source, "roles", "a supervisor team needs a manager and at least one worker")
    elif spec.manager is not None:
        _fail(source, "manager", f"only supervisor teams have a manager (this is {spec.protocol})")
    if spec.protocol != "group_chat" and spec.until is not None:
        _fail(source, "until", "only group_chat teams end on a message; remove it")
    if spec.arbiter.conflict == "priority" and not spec.arbiter.priority:
        _fail(source, "arbiter.priority", "conflict 'priority' needs a priority list of roles")


def _fail(source: str, where: str, message: str) -> None:
    raise AgentSpecError(f"{source}: field {where!r}: {message}")


def is_team_file(path: str | Path) -> bool:
    """True when ``path`` is a YAML file that declares ``kind: team``."""
    p = Path(path)
    if p.suffix not in (".yaml", ".yml") or not p.is_file():
        return False
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("kind") == "team"


def load_team(path: str | Path) -> Team:
    """Load and validate a team from a YAML file (``kind: team``)."""
    p = Path(path)
    data = read_mapping(p, "team", "'kind: team', 'protocol', 'roles'")
    spec = validate(TeamSpec, data, str(p))
    return team_from_spec(spec, source=str(p), base=p.parent)


def team_from_spec(spec: TeamSpec, *, source: str = "<spec>", base: Path | None = None) -> Team:
    roles = [
        Role(
            name=r.name,
            agent=_role_agent(r, i, source, base),
            instructions=r.instructions,
            model=r.model,
            tools=r.tools,
            budget=r.budget,
            success=r.success,
            description=r.description,
        )
        for i, r in enumerate(spec.roles)
    ]
    return Team(
        name=spec.name,
        description=spec.description,
        protocol=spec.protocol,
        roles=roles,
        manager=spec.manager,
        order=list(spec.order),
        selector=spec.selector,
        until=spec.until,
        arbiter=spec.arbiter,
        budget=spec.budget,
        source=source,
    )


def _role_agent(role: RoleSpec, i: int, source: str, base: Path | None) -> Agent:
    where = f"{source}: roles.{i}.agent"
    if isinstance(role.agent, str):
        path = Path(role.agent)
        if not path.is_absolute() and base is not None:
            path = base / path
        return load_agent(path)
    data = {"name": role.name} | role.agent
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_ = ".".join(str(p) for p in err["loc"]) or "<root>"
        raise AgentSpecError(
            f"{source}: field 'roles.{i}.agent.{field_}': {err['msg']}; fix it and retry"
        ) from exc
    return agent_from_spec(spec, source=where)
