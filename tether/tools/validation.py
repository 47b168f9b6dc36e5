"""Validate tool arguments and results against JSON Schema (Draft 2020-12).

Nothing is coerced: a value that violates the schema is rejected with every violation listed, each
with a hint the model can act on. Compiled validators are cached in a :class:`ValidatorCache`
that its owner (a registry or executor) holds; there is no process-wide cache. A runtime
shares one bounded :class:`SharedValidators` across its runs' registries, keyed by the schema's
content, so a run's start does not check the same schemas again.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from tether.errors import ConfigError, ToolArgumentError, ToolOutputError
from tether.tools.contract import ToolContract

_MAX_LISTED = 20


class SharedValidators:
    """Compiled validators by schema content (canonical JSON), the newest ``size`` kept."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._compiled: OrderedDict[str, Draft202012Validator] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, tool_name: str, schema: dict[str, Any]) -> Draft202012Validator:
        try:
            key = json.dumps(schema, sort_keys=True, default=repr)
        except (TypeError, ValueError):  # not JSON-like: not shared
            return compile_schema(tool_name, schema)
        with self._lock:
            found = self._compiled.get(key)
            if found is not None:
                self._compiled.move_to_end(key)
                return found
        compiled = compile_schema(tool_name, schema)  # an invalid schema raises, uncached
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > self._size:
                self._compiled.popitem(last=False)
        return compiled

    def __len__(self) -> int:
        return len(self._compiled)

    def close(self) -> None:
        """Drop the validators (a runtime's ``close``)."""
        with self._lock:
            self._compiled.clear()


class ValidatorCache:
    """Compiled validators per contract, held by whoever owns the contracts (through
    ``shared`` when given)."""

    def __init__(self, shared: SharedValidators | None = None) -> None:
        self._compiled: dict[tuple[int, str], tuple[dict[str, Any], Draft202012Validator]] = {}
        self._shared = shared

    def get(self, contract: ToolContract, which: str = "input") -> Draft202012Validator:
        schema = contract.input_schema if which == "input" else contract.output_schema
        if schema is None:
            raise ValueError(f"tool {contract.name!r} has no {which} schema")
        key = (id(schema), which)
        entry = self._compiled.get(key)
        if entry is None or entry[0] is not schema:
            compiled = (
                self._shared.compile(contract.name, schema)
                if self._shared is not None
                else compile_schema(contract.name, schema)
            )
            entry = (schema, compiled)
            self._compiled[key] = entry
        return entry[1]

    def __len__(self) -> int:
        return len(self._compiled)


def compile_schema(tool_name: str, schema: dict[str, Any]) -> Draft202012Validator:
    """A Draft 2020-12 validator for ``schema``; an invalid schema is a ``ConfigError``."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(
            f"tool {tool_name!r}: schema is not valid JSON Schema 2020-12: {exc.message} "
            f"(at {_path(exc.absolute_path)}); fix the schema"
        ) from exc
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_arguments(
    contract: ToolContract, args: object, *, cache: ValidatorCache | None = None
) -> dict[str, Any]:
    """Return ``args`` unchanged if they satisfy the input schema, else raise ToolArgumentError."""
    name = contract.name
    if not isinstance(args, dict):
        error = {
            "path": "$",
            "message": f"arguments must be a JSON object, got {type(args).__name__}",
            "hint": "send the arguments as an object with the properties in the schema",
        }
        raise ToolArgumentError(
            f"arguments for tool {name!r} must be a JSON object; "
            "call it again with an object matching its schema",
            tool=name,
            detail={"errors": [error], "schema": contract.input_schema},
        )
    validator = (cache or ValidatorCache()).get(contract, "input")
    errors = _collect(validator, args)
    if errors:
        raise ToolArgumentError(
            f"arguments for tool {name!r} are invalid ({_summary(errors)}); "
            "fix them using the schema and call the tool again",
            tool=name,
            detail={"errors": errors, "schema": contract.input_schema},
        )
    return args


def validate_output(
    contract: ToolContract, value: object, *, cache: ValidatorCache | None = None
) -> object:
    """Return ``value`` if it satisfies the output schema (if any), else raise ToolOutputError."""
    if contract.output_schema is None:
        return value
    validator = (cache or ValidatorCache()).get(contract, "output")
    errors = _collect(validator, value)
    if errors:
        raise ToolOutputError(
            f"tool {contract.name!r} returned a result that violates its output schema "
            f"({_summary(errors)}); the tool's implementation must be fixed",
            tool=contract.name,
            detail={"errors": errors},
        )
    return value


def _collect(validator: Draft202012Validator, value: object) -> list[dict[str, str]]:
    found = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.path)), e.message))
    return [
        {"path": _path(e.absolute_path), "message": e.message, "hint": _hint(e)}
        for e in found[:_MAX_LISTED]
    ]


def _summary(errors: list[dict[str, str]]) -> str:
    first = errors[0]
    more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
    return f"{first['path']}: {first['message']}{more}"


def _path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _hint(error: ValidationError) -> str:
    handler = _HINTS.get(str(error.validator))
    return handler(error) if handler else "change this value so it matches the schema"


def _allowed(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    names = sorted(schema.get("properties", {}))
    return f"remove it; allowed properties are {names}"


_HINTS: dict[str, Any] = {
    "required": lambda e: "add this required property",
    "additionalProperties": _allowed,
    "type": lambda e: f"use a value of JSON type {e.validator_value!r}",
    "enum": lambda e: f"use exactly one of {e.validator_value!r}",
    "const": lambda e: f"use exactly {e.validator_value!r}",
    "maxLength": lambda e: f"shorten it to at most {e.validator_value} characters",
    "minLength": lambda e: f"make it at least {e.validator_value} characters long",
    "maximum": lambda e: f"use a number <= {e.validator_value}",
    "minimum": lambda e: f"use a number >= {e.validator_value}",
    "exclusiveMaximum": lambda e: f"use a number < {e.validator_value}",
    "exclusiveMinimum": lambda e: f"use a number > {e.validator_value}",
    "maxItems": lambda e: f"send at most {e.validator_value} items",
    "minItems": lambda e: f"send at least {e.validator_value} items",
    "pattern": lambda e: f"match the regular expression {e.validator_value!r}",
    "format": lambda e: f"use the {e.validator_value!r} format",
    "anyOf": lambda e: "use a value that matches one of the allowed shapes",
    "oneOf": lambda e: "use a value that matches exactly one of the allowed shapes",
}
