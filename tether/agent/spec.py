"""Agents: declared in Python (``Agent(...)``) or YAML, validated on load.

A YAML agent names its tools: built-in names (``calculator``) or ``module:attribute`` references
to ``@tool`` functions, plus HTTP tool files (``http_tools:``) and OpenAPI documents
(``openapi:``), with paths relative to the agent file. Errors name the file and the field, and
say what to fix.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tether.agent.memory.config import WorkingMemory
from tether.agent.specfile import read_mapping, validate
from tether.errors import AgentSpecError, ConfigError
from tether.governance.budget import Budget, ToolBudget
from tether.governance.guardrails import Guardrails
from tether.memory.config import MemoryConfig
from tether.plan.config import CriticConfig, PlanConfig, ReflectConfig, RouteConfig, check_modes
from tether.tools import BUILTIN_TOOLS, Tool, tool
from tether.tools.http.refs import HttpToolsRef, OpenApiRef, absolute_refs, load_refs
from tether.tools.mcp_config import McpServer
from tether.tools.sandbox import run_python_code

# tools an agent file may name: the built-ins and the sandboxed code runner
NAMED_TOOLS = (*BUILTIN_TOOLS, run_python_code)
NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"


class Limits(BaseModel):
    """Caps that stop a run cleanly (status ``max_steps``, ``budget_exceeded``, ``no_progress``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: int = Field(default=8, ge=1, le=10_000, description="model calls per run")
    max_tool_calls: int = Field(default=16, ge=0, le=100_000, description="tool calls per run")
    max_tokens: int = Field(default=60_000, ge=1, description="input+output tokens per run")
    max_identical_calls: int = Field(
        default=2, ge=1, description="same tool with same arguments before no_progress"
    )
    max_output_tokens: int = Field(default=256, ge=16, le=8192, description="per model call")


class Schedule(BaseModel):
    """A cron schedule on which the agent starts a run by itself (``tether worker`` fires it,
    once per period however many workers run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = Field(description="5 fields (minute first), or 6 with seconds first; UTC")
    goal: str = Field(min_length=1, max_length=20_000, description="the goal of each run")
    tenant: str | None = Field(default=None, description="who the runs act for")

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter  # comes with dbos

        if not croniter.is_valid(value, second_at_beginning=True):
            raise ValueError(
                f"{value!r} is not a cron expression: give 5 fields (m h dom mon dow), e.g. "
                "'0 9 * * 1', or 6 with seconds first"
            )
        return value


class AgentSpec(BaseModel):
    """The validated, serializable form of an agent (what a YAML file holds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    instructions: str = Field(default="You are a helpful agent.", max_length=20_000)
    model: str | None = Field(default=None, description="model id; default TETHER_MODEL")
    fallback: list[str] = Field(
        default_factory=list, description="model ids tried in order when the model fails"
    )
    tools: list[str] = Field(default_factory=list)
    http_tools: list[HttpToolsRef] = Field(
        default_factory=list, description="HTTP tool files (paths or {path, allow, base_url})"
    )
    openapi: list[OpenApiRef] = Field(
        default_factory=list, description="OpenAPI documents: one tool per operation"
    )
    mcp: list[McpServer] = Field(
        default_factory=list, description="MCP servers (command or url) whose tools it uses"
    )
    limits: Limits = Field(default_factory=Limits)
    budget: Budget = Field(default_factory=Budget, description="what one run may spend")
    tools_budget: dict[str, ToolBudget] = Field(
        default_factory=dict, description="per tool: {calls, money} within one run"
    )
    preselect_k: int = Field(default=3, ge=1, le=64, description="tools shown per step")
    guided: bool = Field(
        default=False,
        description="code picks the tool for each part of the goal, the model fills arguments",
    )
    mode: Literal["react", "plan", "reflect", "auto"] = "react"
    planner_model: str | None = Field(default=None, description="model id for plans")
    fast_model: str | None = Field(default=None, description="model id for simple goals")
    plan: PlanConfig | None = Field(default=None, description="plan mode caps, success_check")
    critic: CriticConfig | None = Field(default=None, description="checks of plan steps")
    reflect: ReflectConfig | None = Field(default=None, description="reflect mode's checker")
    route: RouteConfig | None = Field(default=None, description="auto mode's classifier")
    scopes: list[str] | None = Field(
        default=None, description="auth scopes the agent holds; None: no scope checks"
    )
    guardrails: Guardrails | None = Field(
        default=None, description="input and output filters, tool allow list"
    )
    memory: MemoryConfig | None = Field(
        default=None, description="episodic and profile memory, write and read policy"
    )
    working_memory: WorkingMemory | None = Field(
        default=None, description="prompt token budget; older turns summarized"
    )
    schedule: Schedule | None = Field(
        default=None, description="a cron schedule on which the agent starts runs"
    )
    evals: list[str] = Field(
        default_factory=list,
        description="eval datasets `tether agents promote` gates on (relative to the file)",
    )


@dataclass(frozen=True, kw_only=True)
class Agent:
    """An agent: instructions, a model id, tools and limits.

    ``tools`` accepts ``Tool`` objects, plain functions (wrapped with ``@tool``) or built-in
    tool names.
    """

    name: str
    instructions: str = "You are a helpful agent."
    model: str | None = None
    fallback: Sequence[str] = ()
    tools: Sequence[Tool | Callable[..., Any] | str] = ()
    http_tools: Sequence[HttpToolsRef | str] = ()
    openapi: Sequence[OpenApiRef | str] = ()
    mcp: Sequence[McpServer] = ()  # connected for each run (``Runtime.run``)
    limits: Limits = field(default_factory=Limits)
    budget: Budget = field(default_factory=Budget)
    tools_budget: Mapping[str, ToolBudget] = field(default_factory=dict)
    preselect_k: int = 3
    guided: bool = False
    description: str = ""
    scopes: Sequence[str] | None = None  # auth scopes the agent holds (policy checks them)
    guardrails: Guardrails | None = None  # input/output filters (tether/governance/guardrails)
    mode: Literal["react", "plan", "reflect", "auto"] = "react"  # tether/plan
    planner_model: str | None = None
    fast_model: str | None = None
    plan: PlanConfig | None = None
    critic: CriticConfig | None = None
    reflect: ReflectConfig | None = None
    route: RouteConfig | None = None
    memory: MemoryConfig | None = None  # episodic/profile memory and policies (tether/memory)
    working_memory: WorkingMemory | None = None  # prompt budget, summaries (tether/agent/memory)
    schedule: Schedule | None = None  # runs it starts by itself (tether worker fires them)
    evals: Sequence[str] = ()  # eval datasets promotion gates on (tether/versions); not hashed
    source: str = "<python>"

    def __post_init__(self) -> None:
        self.spec()  # validate eagerly, tools included
        names = tool_names(self.resolved_tools())
        check_modes(self.source, names, self.plan, self.critic, self.reflect)
        for name in self.tools_budget:
            if name not in names:
                raise AgentSpecError(
                    f"{self.source}: field 'tools_budget.{name}': the agent has no tool "
                    f"{name!r} (its tools: {', '.join(names) or 'none'}); budget one of them"
                )

    def resolved_tools(self, *, http_allow: Sequence[str] = ()) -> tuple[Tool, ...]:
        """The agent's tools; ``http_allow`` adds SSRF exceptions for its HTTP tools."""
        own = tuple(_resolve_tool(t, self.source) for t in self.tools)
        if not self.http_tools and not self.openapi:
            return own
        spec = self.spec()
        try:
            return own + load_refs(spec.http_tools, spec.openapi, http_allow)
        except ConfigError as exc:
            raise AgentSpecError(f"{self.source}: field 'http_tools'/'openapi': {exc}") from exc

    def spec(self) -> AgentSpec:
        names = [
            t if isinstance(t, str) else _resolve_tool(t, self.source).contract.name
            for t in self.tools
        ]
        return _validate_spec(
            {
                "name": self.name,
                "description": self.description,
                "instructions": self.instructions,
                "model": self.model,
                "fallback": list(self.fallback),
                "tools": names,
                "http_tools": [_ref_data(r) for r in self.http_tools],
                "openapi": [_ref_data(r) for r in self.openapi],
                "mcp": list(self.mcp),
                "limits": self.limits,
                "budget": self.budget,
                "tools_budget": dict(self.tools_budget),
                "preselect_k": self.preselect_k,
                "guided": self.guided,
                "scopes": None if self.scopes is None else list(self.scopes),
                "guardrails": self.guardrails,
                "mode": self.mode,
                **{k: v for k, v in self._mode_fields().items() if v is not None},
                "memory": self.memory,
                "working_memory": self.working_memory,
                "schedule": self.schedule,
                "evals": list(self.evals),
            },
            self.source,
        )

    def _mode_fields(self) -> dict[str, Any]:
        return {
            "planner_model": self.planner_model,
            "fast_model": self.fast_model,
            "plan": self.plan,
            "critic": self.critic,
            "reflect": self.reflect,
            "route": self.route,
        }

    def portable_spec(self) -> AgentSpec:
        """The spec with every tool as a reference another process can resolve.

        Built-in tools by name; ``@tool`` functions as ``module:name`` when importable. A tool
        defined in ``__main__`` or a closure keeps its bare name, and rebuilding the agent in
        another process then fails with an error that names it.
        """
        refs = [
            t if isinstance(t, str) else _tool_ref(_resolve_tool(t, self.source))
            for t in self.tools
        ]
        return self.spec().model_copy(update={"tools": refs})

    @property
    def version(self) -> str:
        """A content hash of everything that defines the agent's behaviour."""
        tools = [[t.contract.name, t.contract.version] for t in self.resolved_tools()]
        spec = self.spec()
        unset = {"scopes"} if self.scopes is None else set()  # versions from before scopes
        unset |= set() if self.mcp else {"mcp"}  # ... and from before MCP servers
        if self.guardrails is None:
            unset.add("guardrails")
        unset |= {k for k, v in self._mode_fields().items() if v is None}  # before tether/plan
        if self.memory is None:
            unset.add("memory")
        if self.working_memory is None:
            unset.add("working_memory")
        if self.schedule is None:
            unset.add("schedule")
        unset.add("evals")  # which datasets gate a release is not the agent's behaviour
        body = spec.model_dump(mode="json", exclude={"http_tools", "openapi", *unset})
        body |= {"tools": tools}
        # tool files count by content (in the tools' versions) and options, not by location
        refs = [
            r.model_dump(mode="json", exclude={"path"}) for r in (*spec.http_tools, *spec.openapi)
        ]
        if refs:
            body["tool_files"] = refs
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return digest[:16]


def _ref_data(ref: BaseModel | str) -> Any:
    """A file reference with an absolute path (relative to the working folder), so the spec
    means the same file in another process."""
    data = ref.model_dump() if isinstance(ref, BaseModel) else {"path": ref}
    return data | {"path": str(Path(data["path"]).resolve())}


def _tool_ref(t: Tool) -> str:
    builtins = {b.contract.name for b in NAMED_TOOLS}
    name = t.contract.name
    if name in builtins and any(b is t for b in NAMED_TOOLS):
        return name
    module = getattr(t.fn, "__module__", None)
    attr = getattr(t.fn, "__name__", None)
    if module and attr and module != "__main__":
        try:
            found = getattr(importlib.import_module(module), attr, None)
        except ImportError:
            found = None
        if found is t or (isinstance(found, Tool) and found.contract.name == name):
            return f"{module}:{attr}"
    return name


def _resolve_tool(ref: Tool | Callable[..., Any] | str, source: str) -> Tool:
    if isinstance(ref, Tool):
        return ref
    if callable(ref):
        return tool(ref)
    builtins = {t.contract.name: t for t in NAMED_TOOLS}
    if ref in builtins:
        return builtins[ref]
    if ":" in ref:
        return _import_tool(ref, source)
    raise AgentSpecError(
        f"{source}: field 'tools': unknown tool {ref!r}; use a built-in "
        f"({', '.join(sorted(builtins))}) or 'module:function'"
    )


def _import_tool(ref: str, source: str) -> Tool:
    module_name, _, attr = ref.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise AgentSpecError(
            f"{source}: field 'tools': cannot import {ref!r} ({exc}); check the module path"
        ) from exc
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return tool(obj)
    raise AgentSpecError(f"{source}: field 'tools': {ref!r} is not a tool or function")


def _validate_spec(data: dict[str, Any], source: str) -> AgentSpec:
    return validate(AgentSpec, data, source)


def load_agent(path: str | Path) -> Agent:
    """Load and validate an agent from a YAML file."""
    p = Path(path)
    data = read_mapping(p, "agent", "'name', 'instructions', 'tools'")
    spec = _validate_spec(_absolute_evals(absolute_refs(data, p.parent), p.parent), str(p))
    return agent_from_spec(spec, source=str(p))


def _absolute_evals(data: dict[str, Any], base: Path) -> dict[str, Any]:
    evals = data.get("evals")
    if not isinstance(evals, list):
        return data  # absent, or invalid: reported by validation
    return data | {"evals": [str(base / e) if isinstance(e, str) else e for e in evals]}


def agent_from_spec(spec: AgentSpec, *, source: str = "<spec>") -> Agent:
    return Agent(
        name=spec.name,
        description=spec.description,
        instructions=spec.instructions,
        model=spec.model,
        fallback=list(spec.fallback),
        tools=list(spec.tools),
        http_tools=list(spec.http_tools),
        openapi=list(spec.openapi),
        mcp=list(spec.mcp),
        limits=spec.limits,
        budget=spec.budget,
        tools_budget=dict(spec.tools_budget),
        preselect_k=spec.preselect_k,
        guided=spec.guided,
        scopes=spec.scopes,
        guardrails=spec.guardrails,
        mode=spec.mode,
        planner_model=spec.planner_model,
        fast_model=spec.fast_model,
        plan=spec.plan,
        critic=spec.critic,
        reflect=spec.reflect,
        route=spec.route,
        memory=spec.memory,
        working_memory=spec.working_memory,
        schedule=spec.schedule,
        evals=list(spec.evals),
        source=source,
    )


def tool_names(tools: Iterable[Tool]) -> list[str]:
    return [t.contract.name for t in tools]
