"""How an agent names HTTP tool files and OpenAPI documents (``http_tools:``, ``openapi:``).

::

    http_tools:
      - tools/weather.yaml                       # a path, relative to the agent file
      - {path: tools/internal.yaml, allow: [10.0.0.0/8]}
    openapi:
      - {path: petstore.yaml, base_url: http://127.0.0.1:8080, operations: [listPets]}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tether.tools.contract import SideEffect, Tool
from tether.tools.http.openapi import load_openapi_tools
from tether.tools.http.toolset import load_http_tools


class HttpToolsRef(BaseModel):
    """An HTTP tool file an agent uses, with extra SSRF exceptions and a base URL override."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    allow: list[str] = Field(default_factory=list)
    base_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str | Path) else value

    def absolute(self, base: Path) -> HttpToolsRef:
        return self.model_copy(update={"path": str((base / self.path).resolve())})

    def load(self, allow: Iterable[str] = ()) -> tuple[Tool, ...]:
        toolset = load_http_tools(self.path, allow=[*self.allow, *allow], base_url=self.base_url)
        return toolset.tools


class OpenApiRef(HttpToolsRef):
    """An OpenAPI document an agent uses: which operations, their tiers, a name prefix."""

    operations: list[str] | None = None
    side_effects: dict[str, SideEffect] = Field(default_factory=dict)
    prefix: str = ""
    headers: dict[str, str] = Field(
        default_factory=dict, description="sent by every operation; may name {secret:name}"
    )
    timeout_ms: int = Field(default=10_000, gt=0, le=600_000)

    def load(self, allow: Iterable[str] = ()) -> tuple[Tool, ...]:
        toolset = load_openapi_tools(
            self.path,
            allow=[*self.allow, *allow],
            base_url=self.base_url,
            operations=self.operations,
            side_effects=self.side_effects,
            prefix=self.prefix,
            headers=self.headers,
            timeout_ms=self.timeout_ms,
        )
        return toolset.tools


def load_refs(
    http_tools: Sequence[HttpToolsRef], openapi: Sequence[OpenApiRef], allow: Iterable[str] = ()
) -> tuple[Tool, ...]:
    """The tools of every referenced file, in order; ``allow`` (TETHER_HTTP_ALLOW) applies to
    all of them."""
    extra = list(allow)
    return tuple(t for ref in [*http_tools, *openapi] for t in ref.load(extra))


def absolute_refs(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """An agent file's mapping with its ``http_tools``/``openapi`` paths made absolute, so a
    run rebuilt in another process (a worker) finds the same files."""
    result = dict(data)
    for key in ("http_tools", "openapi"):
        entries = result.get(key)
        if isinstance(entries, list):
            result[key] = [_absolute(e, base) for e in entries]
    return result


def _absolute(entry: Any, base: Path) -> Any:
    if isinstance(entry, str):
        return str((base / entry).resolve())
    if isinstance(entry, dict) and isinstance(entry.get("path"), str):
        return {**entry, "path": str((base / entry["path"]).resolve())}
    return entry  # invalid: reported by validation
