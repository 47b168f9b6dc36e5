"""What differs between two agent versions: field by field, and as a unified text diff (pure)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True, kw_only=True)
class Change:
    field: str  # dotted path, e.g. "limits.max_steps"
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


def changes(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[Change]:
    """Every leaf that differs; mappings are compared key by key, anything else as a whole."""
    out: list[Change] = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}{key}"
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            out.extend(changes(left, right, f"{path}."))
        elif left != right:
            out.append(Change(field=path, before=left, after=right))
    return out


def unified(a: dict[str, Any], b: dict[str, Any], name_a: str, name_b: str) -> str:
    """The two specs as YAML, diffed line by line."""

    def lines(spec: dict[str, Any]) -> list[str]:
        text = yaml.safe_dump(spec, sort_keys=True, allow_unicode=True, width=100)
        return text.splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(a), lines(b), fromfile=name_a, tofile=name_b))
