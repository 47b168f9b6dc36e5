"""Eval datasets: cases in YAML or JSONL, validated on load with errors naming file and field.

A case gives an ``input`` (the goal), what is expected (output checks and/or a tool-call
trajectory with argument matchers), tags, a per-case budget and, for deterministic runs, the
scripted model turns that play the model's part. ``component`` picks what the case exercises:
the whole agent (default), one tool, retrieval over a small corpus, or the judge alone.

Argument matchers (in ``expect.trajectory.calls[].args`` and ``expect.json``): a plain value
matches by equality; ``{"$regex": P}``, ``{"$contains": S}``, ``{"$approx": X, "$tol": T}`` and
``{"$any": true}`` match as named.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.errors import ConfigError
from tether.testing.scripted import ScriptStep
from tether.types import ToolCall

Component = Literal["agent", "tool", "retrieval", "judge"]
Order = Literal["exact", "in_order", "any_order", "subset"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallSpec(_Strict):
    """One tool call: in a scripted turn (what the model asks) or an expected trajectory."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Turn(_Strict):
    """One scripted model turn: call tools, answer, or fail like a broken model."""

    call: CallSpec | None = None
    calls: list[CallSpec] = Field(default_factory=list)
    answer: str | None = None
    error: str | None = None  # the model call raises ModelError with this message

    @model_validator(mode="after")
    def _one_thing(self) -> Turn:
        given = sum(x is not None and x != [] for x in (self.call, self.calls or None, self.answer))
        if given + (self.error is not None) != 1:
            raise ValueError("a turn has exactly one of 'call', 'calls', 'answer' or 'error'")
        return self

    def step(self, n: int) -> ScriptStep:
        from tether.errors import ModelError

        if self.error is not None:
            return ScriptStep(raises=ModelError(self.error))
        specs = [self.call] if self.call is not None else self.calls
        return ScriptStep(
            text=self.answer,
            tool_calls=tuple(
                ToolCall(id=f"call_{n}_{i}", name=c.tool, arguments=c.args)
                for i, c in enumerate(specs)
            ),
        )


class Trajectory(_Strict):
    """Expected tool calls. ``order``: ``exact`` (these calls, nothing else, in order),
    ``in_order`` (these in order, others may come between), ``any_order`` (these, in any
    order, nothing else), ``subset`` (these somewhere). ``forbid``: tools never to call."""

    calls: list[CallSpec] = Field(default_factory=list)
    order: Order = "in_order"
    forbid: list[str] = Field(default_factory=list)
    only_ok: bool = True  # count only calls that succeeded


class Number(_Strict):
    """The first number in the output equals ``value`` within ``tol`` (absolute) or
    ``rel`` (relative)."""

    value: float
    tol: float = 1e-6
    rel: float = 0.0


class Criterion(_Strict):
    """A binary rubric criterion for the judge: does the answer meet it, yes or no."""

    id: str
    text: str


class JudgeSpec(_Strict):
    rubric: list[Criterion] = Field(min_length=1)
    min_total: int | None = None  # default: every criterion
    model: str | None = None  # default: the dataset's judge model
    script: list[str] = Field(default_factory=list)  # scripted judge replies (deterministic)


class Expect(_Strict):
    status: str | None = "succeeded"
    output: str | None = None  # exact (whitespace-trimmed)
    contains: list[str] = Field(default_factory=list)  # every one, case-insensitive
    not_contains: list[str] = Field(default_factory=list)
    regex: str | None = None
    json_schema: dict[str, Any] | None = None  # the output parses as JSON and validates
    number: Number | None = None
    trajectory: Trajectory | None = None
    retrieved: list[str] = Field(default_factory=list)  # substrings retrieval must return
    grounded: bool = False  # the answer's numbers and quotes appear in the tool results
    predicate: str | None = None  # "module:function" (Observation) -> bool | (bool, str)
    judge: JudgeSpec | None = None


class CaseBudget(_Strict):
    max_steps: int | None = Field(default=None, ge=1)
    max_tool_calls: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_cost: Decimal | None = Field(default=None, ge=0)
    max_latency_ms: float | None = Field(default=None, gt=0)


class JudgeInput(_Strict):
    """A judge-alone case: the question, the answer to grade, and the verdict expected."""

    question: str
    answer: str
    context: str = ""
    rubric: list[Criterion] = Field(min_length=1)
    expect_pass: bool
    script: list[str] = Field(default_factory=list)  # the judge model's scripted replies


class Case(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    input: str = ""
    tags: list[str] = Field(default_factory=list)
    component: Component = "agent"
    agent: str | None = None  # default: the dataset's agent
    expect: Expect = Field(default_factory=Expect)
    budget: CaseBudget = Field(default_factory=CaseBudget)
    script: list[Turn] | None = None  # scripted model turns: the run is deterministic
    files: dict[str, str] = Field(default_factory=dict)  # workspace files for this case
    # component "tool": the tool and its arguments; "retrieval": the corpus searched
    tool: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    corpus: list[str] = Field(default_factory=list)
    k: int = Field(default=3, ge=1, le=50)
    judge: JudgeInput | None = None
    user: UserSim | None = None  # a simulated user drives a multi-turn conversation

    @model_validator(mode="after")
    def _component_fields(self) -> Case:
        if self.component == "tool" and not self.tool:
            raise ValueError("a 'tool' case names its 'tool'")
        if self.component == "retrieval" and not (self.corpus and self.expect.retrieved):
            raise ValueError("a 'retrieval' case has a 'corpus' and 'expect.retrieved'")
        if self.component == "judge" and self.judge is None:
            raise ValueError("a 'judge' case has a 'judge' block")
        if self.component in ("agent", "retrieval") and not self.input:
            raise ValueError(f"a {self.component!r} case has an 'input'")
        return self

    def script_steps(self) -> list[ScriptStep]:
        return [t.step(n) for n, t in enumerate(self.script or [])]


class Reply(_Strict):
    """What the simulated user says when the agent's answer matches ``when`` (a regex);
    ``say: null`` ends the conversation."""

    when: str = ".*"
    say: str | None = None


class UserSim(_Strict):
    """A scripted user with a persona and a goal: after each answer, the first matching
    reply is the next turn, up to ``max_turns`` turns in all."""

    persona: str = ""
    replies: list[Reply] = Field(default_factory=list)
    max_turns: int = Field(default=3, ge=1, le=20)

    def next(self, answer: str) -> str | None:
        import re

        for r in self.replies:
            if re.search(r.when, answer, re.S | re.I):
                return r.say
        return None


class Gate(_Strict):
    """When ``--gate`` fails: pass rate below ``min_pass_rate``, or more than ``max_drop``
    below the pass rate saved in ``baseline`` (a JSON file, relative to the dataset)."""

    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    baseline: str | None = None
    max_drop: float = Field(default=0.0, ge=0, le=1)


class Dataset(_Strict):
    name: str = "dataset"
    description: str = ""
    agent: str | None = None  # agent name or YAML file (relative to the dataset)
    model: str | None = None  # for cases without a script; default: the agent's
    judge_model: str = "local:smollm2"
    workspace: str | None = None  # folder copied into each case's workspace
    gate: Gate = Field(default_factory=Gate)
    cases: list[Case]
    source: str = ""  # the file it came from

    @model_validator(mode="after")
    def _unique_ids(self) -> Dataset:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} appears twice; ids must be unique")
            seen.add(case.id)
        return self

    def select(self, tags: list[str] | None = None, ids: list[str] | None = None) -> Dataset:
        """The cases with any of ``tags`` (and, if given, one of ``ids``)."""
        cases = [
            c
            for c in self.cases
            if (not tags or set(tags) & set(c.tags)) and (not ids or c.id in ids)
        ]
        return self.model_copy(update={"cases": cases})

    def relative(self, path: str) -> Path:
        base = Path(self.source).parent if self.source else Path(".")
        p = Path(path)
        return p if p.is_absolute() else base / p


def load_dataset(path: str | Path) -> Dataset:
    """A dataset from YAML (a mapping with ``cases``, or a list of cases) or JSONL (a case
    per line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"dataset {str(p)!r} cannot be read ({exc}); check the path") from exc
    data = _parse_jsonl(p, text) if p.suffix == ".jsonl" else _parse_yaml(p, text)
    if isinstance(data, list):
        data = {"name": p.stem, "cases": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with 'cases' or a list of cases")
    data.setdefault("name", p.stem)
    try:
        return Dataset.model_validate({**data, "source": str(p)})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _where(data, err["loc"])
        raise ConfigError(f"{p}: field {where!r}: {err['msg']}; fix it and retry") from exc


def _parse_yaml(p: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{line} is not valid YAML; fix the syntax") from exc


def _parse_jsonl(p: Path, text: str) -> list[Any]:
    cases = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(json.loads(line))
        except ValueError as exc:
            raise ConfigError(f"{p}: line {n} is not valid JSON ({exc}); fix it") from exc
    return cases


def _where(data: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """``cases[3].expect.regex`` plus the case's id when there is one."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int) and parts:
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    where = ".".join(parts) or "<root>"
    if len(loc) > 1 and loc[0] == "cases" and isinstance(loc[1], int):
        cases = data.get("cases") or []
        if loc[1] < len(cases) and isinstance(cases[loc[1]], dict) and "id" in cases[loc[1]]:
            where += f" (case {cases[loc[1]]['id']!r})"
    return where
