"""Declarative HTTP tools: the file format, validated on load (pydantic at the edge).

A tool file::

    base_url: https://api.example.com/v1
    allow: []                      # SSRF exceptions: hosts, IPs, CIDRs
    headers:                       # sent by every tool of the file
      Authorization: "Bearer {secret:example_token}"
    tools:
      - name: get_pet
        description: Look up a pet by its id.
        method: GET
        url: /pets/{pet_id}        # {arg} placeholders are URL-encoded
        query: [verbose]           # arguments sent as query parameters

Arguments not used by the URL, ``query``, ``headers`` or ``body_arg`` go to the query string of
GET/HEAD/OPTIONS calls and into the JSON object body of the others. ``{secret:NAME}`` in a
header is filled from the run's secrets (``TETHER_SECRETS``), never from arguments.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tether.errors import ConfigError
from tether.tools.contract import TOOL_NAME_PATTERN, SideEffect

Method = Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
SECRET_PREFIX = "secret:"
SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class HttpToolSpec(BaseModel):
    """One HTTP tool: a request template and its contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TOOL_NAME_PATTERN.pattern)
    description: str = Field(min_length=1, max_length=4000)
    method: Method = "GET"
    url: str = Field(min_length=1, description="absolute, or relative to the file's base_url")
    query: list[str] = Field(default_factory=list, description="arguments sent as query params")
    headers: dict[str, str] = Field(default_factory=dict)
    body_arg: str | None = Field(default=None, description="argument that is the whole body")
    input_schema: dict[str, Any] | None = None
    side_effect: SideEffect | None = Field(default=None, description="default: GET read")
    idempotent: bool | None = None
    timeout_ms: int = Field(default=10_000, gt=0, le=600_000)
    max_attempts: int = Field(default=3, ge=1, le=10)
    rate_limit_qps: float | None = Field(default=None, gt=0)
    auth_scope: str | None = None
    cost: Decimal = Field(default=Decimal(0), ge=0)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def tier(self) -> SideEffect:
        if self.side_effect is not None:
            return self.side_effect
        return "read" if self.method in READ_METHODS else "write"

    @property
    def is_idempotent(self) -> bool:
        return self.idempotent if self.idempotent is not None else self.tier == "read"

    def path_params(self) -> list[str]:
        return [p for p in PLACEHOLDER.findall(self.url)]

    def secret_names(self, common_headers: dict[str, str]) -> tuple[str, ...]:
        """The secrets this tool's headers (and the file's) name, in order, once each."""
        templates = [*common_headers.values(), *self.headers.values()]
        found = (p for v in templates for p in PLACEHOLDER.findall(v))
        names = (p[len(SECRET_PREFIX) :] for p in found if p.startswith(SECRET_PREFIX))
        return tuple(dict.fromkeys(names))

    def header_args(self) -> list[str]:
        found = (p for v in self.headers.values() for p in PLACEHOLDER.findall(v))
        return [p for p in found if not p.startswith(SECRET_PREFIX)]

    def arguments_schema(self) -> dict[str, Any]:
        """The input schema: the declared one closed to unknown keys, or one derived from the
        placeholders and query names (all strings)."""
        if self.input_schema is not None:
            schema = dict(self.input_schema)
            schema.setdefault("type", "object")
            schema.setdefault("properties", {})
            schema.setdefault("additionalProperties", False)
            return schema
        names = [*self.path_params(), *self.header_args(), *self.query]
        if self.body_arg:
            names.append(self.body_arg)
        properties = {n: {"type": "string"} for n in dict.fromkeys(names)}
        return {
            "type": "object",
            "properties": properties,
            "required": list(dict.fromkeys(self.path_params())),
            "additionalProperties": False,
        }


class HttpToolFile(BaseModel):
    """A file of HTTP tools that share a base URL, headers, limits and an SSRF allow-list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None
    allow: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    max_response_bytes: int = Field(default=65_536, ge=256, le=64 * 1024 * 1024)
    max_redirects: int = Field(default=5, ge=0, le=20)
    tools: list[HttpToolSpec] = Field(min_length=1)


def check_tool_file(spec: HttpToolFile, source: str) -> None:
    """Cross-field checks pydantic cannot express; errors name the file, tool and field."""
    for i, t in enumerate(spec.tools):
        where = f"{source}: tools.{i} ({t.name})"
        _check_tool(t, spec, where)
    seen: set[str] = set()
    for i, t in enumerate(spec.tools):
        if t.name in seen:
            raise ConfigError(f"{source}: tools.{i}: a second tool is named {t.name!r}; rename it")
        seen.add(t.name)


def _check_tool(t: HttpToolSpec, spec: HttpToolFile, where: str) -> None:
    schema = t.arguments_schema()
    if schema.get("additionalProperties") is not False:
        raise ConfigError(f"{where}.input_schema: set additionalProperties to false")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ConfigError(f"{where}.input_schema.properties must map names to schemas")
    required = set(schema.get("required", []))
    for name in t.path_params():
        if name.startswith(SECRET_PREFIX):
            raise ConfigError(
                f"{where}.url: secrets are allowed only in headers; move {{{name}}} to a header"
            )
        if name not in properties or name not in required:
            raise ConfigError(
                f"{where}.url: placeholder {{{name}}} must be a required property of "
                "input_schema; add it to properties and required"
            )
    used = [("query", n) for n in t.query] + [("headers", n) for n in t.header_args()]
    if t.body_arg:
        used.append(("body_arg", t.body_arg))
    for field, name in used:
        if name not in properties:
            raise ConfigError(
                f"{where}.{field}: {name!r} is not a property of input_schema; add it"
            )
    for name in t.secret_names(spec.headers):
        if not SECRET_NAME.match(name):
            raise ConfigError(
                f"{where}.headers: secret name {name!r} must match {SECRET_NAME.pattern} "
                "(lower case letters, digits and '_'); rename it"
            )
    if t.body_arg and t.method in READ_METHODS:
        raise ConfigError(f"{where}.body_arg: a {t.method} request has no body; remove it")
    if spec.base_url is None and not re.match(r"^https?://", t.url, re.I):
        raise ConfigError(
            f"{where}.url: {t.url!r} is relative and the file has no base_url; "
            "write an absolute http(s) URL or set base_url"
        )


def parse_tool_file(data: object, source: str) -> HttpToolFile:
    """Validate a loaded mapping; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'tools' (and 'base_url', 'allow')")
    try:
        spec = HttpToolFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        raise ConfigError(f"{source}: field {where!r}: {err['msg']}; fix it and retry") from exc
    check_tool_file(spec, source)
    return spec


def read_document(path: Path, what: str) -> object:
    """A YAML (or JSON, a subset) file's content; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {str(path)!r} not found; check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {str(path)!r} cannot be read: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: is not valid JSON ({exc}); fix the syntax") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML or JSON; fix the syntax") from exc


def load_tool_file(path: str | Path) -> HttpToolFile:
    """Load and validate an HTTP tool file."""
    p = Path(path)
    return parse_tool_file(read_document(p, "HTTP tool file"), str(p))
