"""Reading spec files (agents, teams): YAML mappings and pydantic validation, with errors that
name the file, the line or field, and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tether.errors import AgentSpecError

M = TypeVar("M", bound=BaseModel)


def read_mapping(path: Path, kind: str, expected: str) -> dict[str, Any]:
    """The YAML mapping in ``path`` (a ``kind`` file: "agent", "team"); ``expected`` names
    the keys the error for a non-mapping asks for."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AgentSpecError(f"{kind} file {str(path)!r} not found; check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentSpecError(f"{kind} file {str(path)!r} cannot be read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise AgentSpecError(f"{path}:{where} is not valid YAML; fix the syntax") from exc
    if not isinstance(data, dict):
        raise AgentSpecError(f"{path}: expected a mapping with {expected}")
    return data


def validate(model: type[M], data: dict[str, Any], source: str) -> M:
    """``data`` as ``model``; the first validation error names its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        raise AgentSpecError(f"{source}: field {where!r}: {err['msg']}; fix it and retry") from exc
