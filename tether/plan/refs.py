"""References from a plan step's arguments to earlier steps' results (pure).

``$s1.rows`` is the field ``rows`` of step ``s1``'s result; fields nest (``$s1.rows.0.name`` or
``$s1.rows[0].name``). An argument that is exactly one reference takes the referenced value as
is (a list stays a list); a reference inside a longer string is replaced by its text. A
reference to a missing step, field or index raises ``RefError`` naming what exists instead:
the executor journals it as a failed step and re-plans, it never crashes the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REF = re.compile(r"\$([A-Za-z][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+|\[\d+\])*)")
_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


class RefError(LookupError):
    """A reference that does not resolve; ``str()`` says which and what exists."""


@dataclass(frozen=True)
class Ref:
    step: str
    path: tuple[str | int, ...]

    def __str__(self) -> str:
        return "$" + self.step + "".join(f".{p}" for p in self.path)


def parse_ref(text: str) -> Ref | None:
    """The reference ``text`` is exactly, or None."""
    match = REF.fullmatch(text)
    return None if match is None else _ref(match)


def _ref(match: re.Match[str]) -> Ref:
    parts: list[str | int] = []
    for name, index in _PART.findall(match.group(2)):
        parts.append(int(index) if index else name)
    return Ref(match.group(1), tuple(parts))


def refs_in(value: Any) -> set[str]:
    """The step ids ``value`` (arguments, nested) refers to."""
    if isinstance(value, str):
        return {m.group(1) for m in REF.finditer(value)}
    if isinstance(value, Mapping):
        return set().union(*(refs_in(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(refs_in(v) for v in value)) if value else set()
    return set()


def lookup(ref: Ref, results: Mapping[str, Any]) -> Any:
    """The value ``ref`` points at in ``results`` (step id -> result)."""
    if ref.step not in results:
        known = ", ".join(sorted(results)) or "none yet"
        raise RefError(f"{ref} refers to step {ref.step!r}, which has no result (results: {known})")
    value = results[ref.step]
    walked = "$" + ref.step
    for part in ref.path:
        value = _child(value, part, walked, ref)
        walked += f".{part}"
    return value


def _child(value: Any, part: str | int, walked: str, ref: Ref) -> Any:
    if isinstance(value, Mapping):
        key = str(part)
        if key in value:
            return value[key]
        fields = ", ".join(sorted(map(str, value))) or "none"
        raise RefError(f"{ref}: {walked} has no field {key!r} (fields: {fields})")
    if isinstance(value, list | tuple):
        index = part if isinstance(part, int) else _as_index(part)
        if index is not None and 0 <= index < len(value):
            return value[index]
        raise RefError(f"{ref}: {walked} has {len(value)} items; there is no item {part}")
    raise RefError(f"{ref}: {walked} is a {type(value).__name__}, not an object or a list")


def _as_index(part: str) -> int | None:
    return int(part) if part.isdigit() else None


def resolve(value: Any, results: Mapping[str, Any]) -> Any:
    """``value`` with every reference replaced (see the module docstring)."""
    if isinstance(value, str):
        exact = parse_ref(value)
        if exact is not None:
            return lookup(exact, results)
        return REF.sub(lambda m: _text(lookup(_ref(m), results)), value)
    if isinstance(value, Mapping):
        return {k: resolve(v, results) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, results) for v in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
