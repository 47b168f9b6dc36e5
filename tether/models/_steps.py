"""The step schema a local model is forced to follow, and the check of what it produced.

Pure functions: schemas in, schemas or parsed steps out. A *step* is one JSON object, either
``{"tool": NAME, "args": {...}}`` (call a tool) or ``{"answer": "..."}`` (final answer).

Grammar-constrained decoding (llama.cpp's JSON-schema-to-grammar) enforces structure, enums,
``const``, ``pattern``, ``maxLength`` and ``maxItems`` but not ``minimum``/``maximum``, and an
unbounded string or array can run on until ``max_tokens``. So the schema handed to the grammar is
a bounded copy, and every output is validated against it with ``jsonschema`` afterwards.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from tether.types import ToolSpec

MAX_STRING = 200
MAX_ITEMS = 20
MAX_ANSWER = 600
MAX_ENUM_RANGE = 64
_MAX_REF_DEPTH = 8

Schema = dict[str, Any]


class StepError(ValueError):
    """The model's output is not a valid step; the message says why."""


@dataclass(frozen=True, kw_only=True)
class Step:
    """A validated step: a tool call (``tool`` and ``args``) or a final ``answer``."""

    tool: str | None = None
    args: dict[str, Any] | None = None
    answer: str | None = None


def bound_schema(
    schema: Schema, *, max_string: int = MAX_STRING, max_items: int = MAX_ITEMS
) -> Schema:
    """A copy of ``schema`` with local ``$ref``s inlined and every string and array bounded.

    Strings without ``maxLength`` (and without ``enum``/``const``/``pattern``/``format``) get
    ``maxLength: max_string``; arrays without ``maxItems`` get ``maxItems: max_items``; small
    integer ranges become an ``enum`` (the grammar ignores ``minimum``/``maximum``).
    """
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    out: Schema = _bound(copy.deepcopy(schema), defs, max_string, max_items, depth=0)
    out.pop("$defs", None)
    out.pop("definitions", None)
    return out


def _bound(node: Any, defs: Schema, max_string: int, max_items: int, *, depth: int) -> Any:
    if isinstance(node, list):
        return [_bound(n, defs, max_string, max_items, depth=depth) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if depth >= _MAX_REF_DEPTH:
            raise ValueError(f"schema reference {ref!r} nests deeper than {_MAX_REF_DEPTH}")
        target = defs.get(ref.rsplit("/", 1)[-1])
        if target is None or not ref.startswith(("#/$defs/", "#/definitions/")):
            raise ValueError(f"schema reference {ref!r} is not a local definition")
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _bound(merged, defs, max_string, max_items, depth=depth + 1)
    out = {
        k: _bound(v, defs, max_string, max_items, depth=depth) if k != "const" else v
        for k, v in node.items()
    }
    types = out.get("type")
    type_set = set(types) if isinstance(types, list) else {types}
    free_string = not any(k in out for k in ("enum", "const", "pattern", "format", "maxLength"))
    if "string" in type_set and free_string:
        out["maxLength"] = max_string
    if "array" in type_set and "maxItems" not in out:
        out["maxItems"] = max_items
    return _small_range_as_enum(out)


def _small_range_as_enum(node: Schema) -> Schema:
    """``{"type": "integer", "minimum": 0, "maximum": 10}`` -> an enum the grammar enforces."""
    low, high = node.get("minimum"), node.get("maximum")
    if node.get("type") != "integer" or not isinstance(low, int) or not isinstance(high, int):
        return node
    if "enum" in node or "const" in node or not 0 <= high - low < MAX_ENUM_RANGE:
        return node
    return {**node, "enum": list(range(low, high + 1))}


def tool_step_schema(tool: ToolSpec) -> Schema:
    """The schema of one step that calls ``tool``."""
    return {
        "type": "object",
        "properties": {"tool": {"const": tool.name}, "args": bound_schema(tool.input_schema)},
        "required": ["tool", "args"],
        "additionalProperties": False,
    }


def answer_step_schema(max_length: int = MAX_ANSWER) -> Schema:
    return {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": max_length}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def step_schema(tools: Sequence[ToolSpec], *, allow_answer: bool = True) -> Schema:
    """``anyOf`` one alternative per tool, then (unless a tool is required) the answer."""
    answer = [answer_step_schema()] if allow_answer else []
    return {"anyOf": [*(tool_step_schema(t) for t in tools), *answer]}


def parse_json(text: str, schema: Schema) -> Any:
    """Parse ``text`` and validate it against ``schema``; raise ``StepError`` on failure."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StepError(f"output is not JSON ({exc.msg} at {exc.pos}): {text[:120]!r}") from exc
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: e.path)
    if errors:
        raise StepError(f"output violates the schema: {_describe(errors[0], value)}")
    return value


def parse_step(text: str, schema: Schema) -> Step:
    """Parse a step produced under ``schema`` (from ``step_schema``)."""
    value = parse_json(text, schema)
    if "answer" in value:
        return Step(answer=value["answer"])
    return Step(tool=value["tool"], args=value["args"])


def _describe(error: Any, value: Any) -> str:
    # anyOf failures are vague ("is not valid under any of the given schemas"); name the
    # alternative the output was aiming at when it is clear.
    if error.validator == "anyOf" and isinstance(value, dict):
        for sub in error.context or ():
            schema_tool = sub.schema.get("properties", {}).get("tool", {}).get("const")
            if "tool" in value and schema_tool == value.get("tool"):
                return f"{'/'.join(map(str, sub.absolute_path)) or 'step'}: {sub.message}"
    where = "/".join(map(str, error.absolute_path)) or "output"
    return f"{where}: {error.message}"
