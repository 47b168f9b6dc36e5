"""A plan: a task graph of tool steps, its JSON schema, and its validation (pure).

The model writes a plan as JSON::

    {"steps": [{"tool": "search", "args": {"q": "x"}, "depends_on": [],
                "expect": "rows about x"},
               {"tool": "summarize", "args": {"text": "$s1.rows"}}],
     "answer": "Summary: $s2.text", "confidence": 0.8}

Step ids are positional (``s1``, ``s2``, ...) unless a step names its own ``id``: the schema the
model is held to has no ``id`` field, so even a tiny model cannot repeat one, and
``depends_on`` is an enum of step ids.

The schema's ``tool`` field is an enum of the agent's tools, so a grammar-constrained model
cannot name another one, and ``validate`` rejects a plan that does (or that repeats an id,
depends on a step it does not have, has a cycle, or is longer than the cap) before anything
runs. A step depends on the steps in ``depends_on`` and on every step its arguments refer to.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from tether.plan.refs import REF, RefError, refs_in, resolve
from tether.tools import ToolContract

STEP_ID = r"^[a-z][a-z0-9_]{0,15}$"
MAX_EXPECT = 160
MAX_ANSWER = 400


class PlanError(ValueError):
    """A plan that may not run; ``str()`` says what is wrong and how to fix it."""


@dataclass(frozen=True, kw_only=True)
class PlanStep:
    id: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    expect: str = ""

    @property
    def needs(self) -> frozenset[str]:
        """Every step this one waits for: declared and referenced."""
        return frozenset(self.depends_on) | frozenset(refs_in(self.args))

    def signature(self) -> str:
        return self.tool + ":" + json.dumps(self.args, sort_keys=True, default=str)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "args": self.args,
            "depends_on": list(self.depends_on),
            "expect": self.expect,
        }


@dataclass(frozen=True, kw_only=True)
class Plan:
    steps: tuple[PlanStep, ...]
    answer: str = ""
    confidence: float = 1.0

    def step(self, step_id: str) -> PlanStep:
        return next(s for s in self.steps if s.id == step_id)

    def signature(self) -> str:
        """What the plan does, ignoring ids and wording: for agreement and no-progress."""
        return "|".join(sorted(s.signature() for s in self.steps))

    def ready(self, done: Collection[str], started: Collection[str] = ()) -> list[PlanStep]:
        """Steps not done or started whose every dependency is done, in plan order."""
        return [
            s
            for s in self.steps
            if s.id not in done and s.id not in started and s.needs <= set(done)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [s.to_json() for s in self.steps],
            "answer": self.answer,
            "confidence": self.confidence,
        }


def plan_schema(contracts: Sequence[ToolContract], max_steps: int) -> dict[str, Any]:
    """The schema a plan must match, as the model is held to it.

    ``steps`` is one fixed-length tuple per plan length (1 to ``max_steps``); the step at
    position *k* is ``s{k}``, one ``anyOf`` branch per tool (``tool`` is an enum of the agent's
    tools), its arguments typed by the tool's input schema (shared under ``$defs``), where any
    argument may instead be a ``$ref`` string, and ``depends_on`` lists only earlier steps. So
    a plan that matches has unique ids, even from a tiny grammar-constrained model.
    """
    return {
        "type": "object",
        "properties": {
            "steps": {"anyOf": [_tuple(contracts, n) for n in range(1, max_steps + 1)]},
            "answer": {"type": "string", "maxLength": MAX_ANSWER},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["steps", "answer"],
        "additionalProperties": False,
        "$defs": {f"args_{c.name}": _ref_args(c.input_schema) for c in contracts},
    }


def _tuple(contracts: Sequence[ToolContract], length: int) -> dict[str, Any]:
    return {
        "type": "array",
        "prefixItems": [
            {"anyOf": [_step_schema(c, k) for c in contracts]} for k in range(1, length + 1)
        ],
        "items": False,
        "minItems": length,
        "maxItems": length,
    }


def _step_schema(contract: ToolContract, position: int) -> dict[str, Any]:
    earlier = [f"s{n}" for n in range(1, position)]
    props: dict[str, Any] = {
        "tool": {"type": "string", "enum": [contract.name]},
        "args": {"$ref": f"#/$defs/args_{contract.name}"},
    }
    if earlier:
        props["depends_on"] = {
            "type": "array",
            "maxItems": len(earlier),
            "items": {"type": "string", "enum": earlier},
        }
    props["expect"] = {"type": "string", "maxLength": MAX_EXPECT}
    return {
        "type": "object",
        "properties": props,
        "required": ["tool", "args"],
        "additionalProperties": False,
    }


# no backslash escapes: llama.cpp's grammar parser rejects "\$" (and then crashes)
REF_STRING = r"^[$]s[1-9][0-9]?([.][A-Za-z0-9_-]{1,24}){0,4}$"


def _ref_args(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with each top-level property also accepting a ``$ref`` string."""
    out = dict(schema)
    props = schema.get("properties")
    if isinstance(props, Mapping):
        ref = {"type": "string", "pattern": REF_STRING}
        out["properties"] = {k: {"anyOf": [v, ref]} for k, v in props.items()}
    return out


def envelope_schema(tools: Sequence[str], max_steps: int) -> dict[str, Any]:
    """The structural schema every plan is validated against (``tool``: an enum)."""
    return {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "pattern": STEP_ID},
                        "tool": {"type": "string", "enum": list(tools)},
                        "args": {"type": "object"},
                        "depends_on": {"type": "array", "items": {"type": "string"}},
                        "expect": {"type": "string"},
                    },
                    "required": ["tool", "args"],
                },
            },
            "answer": {"type": "string"},
            "confidence": {"type": "number"},
        },
        "required": ["steps"],
    }


def parse_plan(text: str | None, tools: Sequence[str], max_steps: int) -> Plan:
    """The validated plan in ``text``; ``PlanError`` says what is wrong."""
    try:
        data = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"the plan is not JSON ({exc.msg} at {exc.pos}); answer with JSON only"
        ) from exc
    return validate(data, tools, max_steps)


def validate(data: Any, tools: Sequence[str], max_steps: int) -> Plan:
    """``data`` as a plan, checked against the schema and the graph rules."""
    _check_tools(data, tools)
    errors = sorted(
        Draft202012Validator(envelope_schema(tools, max_steps)).iter_errors(data),
        key=lambda e: list(e.path),
    )
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "<root>"
        raise PlanError(f"the plan does not match its schema at {where}: {errors[0].message}")
    steps = tuple(
        PlanStep(
            id=s.get("id", f"s{n}"),
            tool=s["tool"],
            args=dict(s["args"]),
            depends_on=tuple(s.get("depends_on", ())),
            expect=s.get("expect", ""),
        )
        for n, s in enumerate(data["steps"], start=1)
    )
    if len(steps) > max_steps:
        raise PlanError(
            f"the plan has {len(steps)} steps, more than max_plan_steps={max_steps}; "
            "plan fewer steps and re-plan after seeing results"
        )
    _check_graph(steps)
    confidence = float(data.get("confidence", 1.0))
    return Plan(steps=steps, answer=data.get("answer", ""), confidence=min(max(confidence, 0), 1))


def _check_tools(data: Any, tools: Sequence[str]) -> None:
    steps = data.get("steps") if isinstance(data, Mapping) else None
    for n, s in enumerate(steps if isinstance(steps, list) else (), start=1):
        name = s.get("tool") if isinstance(s, Mapping) else None
        if isinstance(name, str) and name not in tools:
            raise PlanError(
                f"plan step {s.get('id', f's{n}')!r} names tool {name!r}, which this agent does "
                f"not have (its tools: {', '.join(tools) or 'none'}); use one of them"
            )


def _check_graph(steps: Sequence[PlanStep]) -> None:
    ids = [s.id for s in steps]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PlanError(f"plan step ids repeat: {', '.join(dup)}; give every step its own id")
    for s in steps:
        unknown = sorted(s.needs - set(ids))
        if unknown:
            raise PlanError(
                f"plan step {s.id!r} depends on or refers to {', '.join(unknown)}, which the "
                f"plan does not have (its steps: {', '.join(ids)})"
            )
        if s.id in s.needs:
            raise PlanError(f"plan step {s.id!r} depends on itself")
    _check_acyclic(steps)


def _check_acyclic(steps: Sequence[PlanStep]) -> None:
    done: set[str] = set()
    left = list(steps)
    while left:
        ready = [s for s in left if s.needs <= done]
        if not ready:
            cycle = ", ".join(s.id for s in left)
            raise PlanError(f"plan steps {cycle} depend on each other in a cycle")
        done.update(s.id for s in ready)
        left = [s for s in left if s.id not in done]


def answer_text(plan: Plan, results: Mapping[str, Any]) -> str:
    """The plan's answer with its references filled in; the last result when it has none."""
    if plan.answer and REF.search(plan.answer):
        try:
            return str(resolve(plan.answer, results))
        except RefError as exc:
            return f"{plan.answer} (unresolved: {exc})"
    if plan.answer:
        return plan.answer
    last = plan.steps[-1].id
    return json.dumps(results.get(last), ensure_ascii=False, default=str)
