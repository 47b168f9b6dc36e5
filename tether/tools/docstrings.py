"""A small parser for Google-style docstrings: summary paragraph and ``Args:`` descriptions."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Returns|Return|Yields|Raises|Examples?|Notes?|"
    r"Attributes|See Also|Warnings?|Todo):\s*$"
)
_ARG_LINE = re.compile(r"^\*{0,2}(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(\([^)]*\))?\s*:\s*(?P<d>.*)$")
_ARG_SECTIONS = frozenset({"Args", "Arguments", "Parameters", "Params"})


@dataclass(frozen=True, kw_only=True)
class Docstring:
    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Split a docstring into its first paragraph and the descriptions in its ``Args:``."""
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()):
            break
        summary.append(line.strip())
    return Docstring(summary=" ".join(summary), params=_parse_args(lines))


def _parse_args(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    in_args = False
    arg_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        header = _SECTION.match(stripped)
        indent = len(line) - len(line.lstrip())
        if header and indent == 0:
            in_args = header.group(1) in _ARG_SECTIONS
            arg_indent, current = None, None
            continue
        if not in_args or not stripped:
            continue
        if arg_indent is None:
            arg_indent = indent
        match = _ARG_LINE.match(stripped)
        if indent <= arg_indent and match:
            current = match.group("name")
            params[current] = match.group("d").strip()
        elif indent > arg_indent and current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
        elif indent < arg_indent:
            in_args, current = False, None
    return params
