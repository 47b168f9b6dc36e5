"""Turn whatever a tool returns into plain JSON values."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import pydantic

_MAX_DEPTH = 64


def to_jsonable(value: Any, *, _depth: int = 0) -> Any:
    """A JSON-serializable copy of ``value``.

    Dataclasses and pydantic models become objects, ``Decimal`` a string, dates and times ISO
    text, paths strings, sets sorted lists, tuples lists, non-finite floats their ``repr``;
    anything else its ``repr``.
    """
    if _depth > _MAX_DEPTH:
        return repr(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    nested = _depth + 1
    if isinstance(value, pydantic.BaseModel):
        return to_jsonable(value.model_dump(mode="json"), _depth=nested)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return to_jsonable(fields, _depth=nested)
    if isinstance(value, Mapping):
        return {_key(k): to_jsonable(v, _depth=nested) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v, _depth=nested) for v in value]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(v, _depth=nested) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=lambda item: (type(item).__name__, repr(item)))
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, PurePath | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return repr(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    converted = to_jsonable(key)
    return converted if isinstance(converted, str) else str(converted)
