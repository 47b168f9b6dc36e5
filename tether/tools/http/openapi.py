"""Import an OpenAPI 3.0/3.1 document as HTTP tools: one tool per operation.

The tool name is the ``operationId`` (else ``method_path``), the description its summary and
description, and the input schema is built from the path, query and header parameters and the
``application/json`` request body (local ``$ref`` s inlined; ``readOnly`` properties dropped).
An object body is flattened into the arguments when that is unambiguous; otherwise it is one
``body`` argument. GET/HEAD/OPTIONS are reads, other methods writes; override per operation
with ``side_effects={"deletePet": "high_risk"}`` or ``x-tether-side-effect`` in the document.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.tools.contract import SIDE_EFFECTS, SideEffect
from tether.tools.http.spec import HttpToolFile, HttpToolSpec, check_tool_file, read_document
from tether.tools.http.toolset import HttpToolset
from tether.tools.http.transport import Resolver, TransportFactory

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]+")
_DROP_KEYS = ("example", "examples", "xml", "externalDocs", "discriminator", "deprecated")


def openapi_tool_file(
    doc: Mapping[str, Any],
    *,
    source: str = "<openapi>",
    base_url: str | None = None,
    operations: Collection[str] | None = None,
    side_effects: Mapping[str, SideEffect] | None = None,
    prefix: str = "",
    headers: Mapping[str, str] | None = None,
    timeout_ms: int = 10_000,
) -> HttpToolFile:
    """The tool file an OpenAPI document describes; errors name ``source`` and the place."""
    version = str(doc.get("openapi", ""))
    if not version.startswith("3."):
        raise ConfigError(
            f"{source}: 'openapi' is {version or 'missing'!r}; only OpenAPI 3.0 and 3.1 "
            "documents can be imported (convert Swagger 2.0 first)"
        )
    refs = _Refs(doc, source)
    tools: list[HttpToolSpec] = []
    names: dict[str, str] = {}  # tool name -> operationId or method path
    overrides = dict(side_effects or {})
    for path, method, op, shared in _operations(doc, source):
        op_id = str(op.get("operationId") or f"{method}_{path}")
        name = _unique(_tool_name(prefix + op_id), names)
        if operations is not None and op_id not in operations and name not in operations:
            continue
        names[name] = op_id
        where = f"{source}: paths.{path}.{method}"
        tier = overrides.pop(op_id, None) or overrides.pop(name, None)
        tools.append(_tool(name, path, method, op, shared, refs, where, tier, timeout_ms))
    _check_selection(source, operations, names, overrides)
    spec = HttpToolFile(
        base_url=base_url or _server(doc, source),
        headers=dict(headers or {}),
        tools=tools,
    )
    check_tool_file(spec, source)
    return spec


def _check_selection(
    source: str,
    operations: Collection[str] | None,
    names: Mapping[str, str],
    leftover: Mapping[str, SideEffect],
) -> None:
    known = set(names) | set(names.values())
    unknown = sorted(set(operations or ()) - known) + sorted(leftover)
    if unknown:
        raise ConfigError(
            f"{source}: no operation is named {unknown!r}; use operationIds or tool names "
            f"from: {', '.join(sorted(names.values()))}"
        )
    if not names:
        raise ConfigError(f"{source}: the document has no operations to import")


def _operations(
    doc: Mapping[str, Any], source: str
) -> Iterable[tuple[str, str, dict[str, Any], list[Any]]]:
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise ConfigError(f"{source}: 'paths' must map paths to operations; it is empty")
    for path, item in paths.items():
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: paths.{path} must be a mapping of operations")
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                yield str(path), method, op, list(shared)


def _server(doc: Mapping[str, Any], source: str) -> str:
    servers = doc.get("servers") or []
    first = servers[0] if servers and isinstance(servers[0], dict) else {}
    url = str(first.get("url", ""))
    for var, spec in (first.get("variables") or {}).items():
        url = url.replace("{" + var + "}", str(spec.get("default", "")))
    if not re.match(r"^https?://", url, re.I):
        raise ConfigError(
            f"{source}: servers[0].url is {url or 'missing'!r}, not an absolute http(s) URL; "
            "pass base_url (or 'base_url:' in the agent) to say where the API is"
        )
    return url


def _tool(
    name: str,
    path: str,
    method: str,
    op: Mapping[str, Any],
    shared: list[Any],
    refs: _Refs,
    where: str,
    tier: SideEffect | None,
    timeout_ms: int,
) -> HttpToolSpec:
    properties: dict[str, Any] = {}
    required: list[str] = []
    query: list[str] = []
    headers: dict[str, str] = {}
    for param in _parameters(shared, op.get("parameters", []), refs, where):
        pname, location = str(param["name"]), param.get("in")
        if location == "cookie":
            continue
        schema = refs.schema(param.get("schema", {"type": "string"}))
        if param.get("description") and "description" not in schema:
            schema["description"] = str(param["description"])[:500]
        properties[pname] = schema
        if param.get("required") or location == "path":
            required.append(pname)
        if location == "query":
            query.append(pname)
        elif location == "header":
            headers[pname] = "{" + pname + "}"
    body_arg = _body(op, refs, where, properties, required)
    tier = tier or _extension_tier(op, where)
    description = (
        "\n\n".join(str(op[k]).strip() for k in ("summary", "description") if op.get(k))
        or f"{method.upper()} {path}"
    )
    return HttpToolSpec(
        name=name,
        description=description[:4000],
        method=method.upper(),
        url=path,
        query=query,
        headers=headers,
        body_arg=body_arg,
        input_schema={
            "type": "object",
            "properties": properties,
            "required": list(dict.fromkeys(required)),
            "additionalProperties": False,
        },
        side_effect=tier,
        idempotent=op.get("x-tether-idempotent"),
        timeout_ms=timeout_ms,
    )


def _parameters(shared: list[Any], own: list[Any], refs: _Refs, where: str) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*shared, *own]:
        param = refs.resolve(raw)
        if not isinstance(param, dict) or "name" not in param or "in" not in param:
            raise ConfigError(f"{where}: a parameter needs 'name' and 'in'; fix the document")
        merged[(str(param["name"]), str(param["in"]))] = param
    names = [n for n, loc in merged if loc != "cookie"]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ConfigError(
            f"{where}: parameters {clash!r} appear in two places (path/query/header); "
            "tether cannot tell them apart, so leave this operation out (operations=...)"
        )
    return list(merged.values())


def _body(
    op: Mapping[str, Any],
    refs: _Refs,
    where: str,
    properties: dict[str, Any],
    required: list[str],
) -> str | None:
    raw = op.get("requestBody")
    if raw is None:
        return None
    body = refs.resolve(raw)
    content = body.get("content", {}) if isinstance(body, dict) else {}
    media = next((m for m in content if m == "application/json" or m.endswith("+json")), None)
    if media is None:
        if body.get("required"):
            raise ConfigError(
                f"{where}: the request body is not JSON ({', '.join(content) or 'none'}); "
                "tether sends JSON only, so leave this operation out (operations=...)"
            )
        return None
    schema = refs.schema(content[media].get("schema", {}))
    fields = schema.get("properties")
    flat = (
        schema.get("type") == "object"
        and isinstance(fields, dict)
        and not set(fields) & set(properties)
        and not any(k in schema for k in ("allOf", "anyOf", "oneOf", "additionalProperties"))
        and (body.get("required") or not schema.get("required"))
    )
    if flat and isinstance(fields, dict):
        properties.update(fields)
        required.extend(str(r) for r in schema.get("required", []) if r in fields)
        return None
    if "body" in properties:
        raise ConfigError(f"{where}: a parameter named 'body' clashes with the request body")
    properties["body"] = schema
    if body.get("required"):
        required.append("body")
    return "body"


def _extension_tier(op: Mapping[str, Any], where: str) -> SideEffect | None:
    value = op.get("x-tether-side-effect")
    if value is None:
        return None
    if value not in SIDE_EFFECTS:
        raise ConfigError(
            f"{where}: x-tether-side-effect is {value!r}; use one of {list(SIDE_EFFECTS)}"
        )
    tier: SideEffect = value
    return tier


class _Refs:
    """Local ``$ref`` resolution; schemas are inlined, a cycle becomes an open object."""

    def __init__(self, doc: Mapping[str, Any], source: str) -> None:
        self._doc, self._source = doc, source

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ConfigError(
                f"{self._source}: $ref {ref!r} points outside the document; only local "
                "references ('#/components/...') can be imported; bundle the document first"
            )
        node: Any = self._doc
        for token in ref[2:].split("/"):
            key = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                raise ConfigError(f"{self._source}: $ref {ref!r} names nothing; fix it")
            node = node[key]
        return node

    def resolve(self, node: Any) -> Any:
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise ConfigError(f"{self._source}: $ref {ref!r} refers to itself")
            seen.add(ref)
            node = self.lookup(ref)
        return node

    def schema(self, node: Any) -> dict[str, Any]:
        result = self._inline(node, ())
        return result if isinstance(result, dict) else {}

    def _inline(self, node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [self._inline(v, stack) for v in node]
        if not isinstance(node, dict):
            return copy.deepcopy(node)
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in stack:
                return {"type": "object"}
            return self._inline(self.lookup(ref), (*stack, ref))
        return _request_schema({k: self._inline(v, stack) for k, v in node.items()})


def _request_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI schema dialect → JSON Schema for a request: nullable, readOnly, annotations."""
    for key in _DROP_KEYS:
        schema.pop(key, None)
    if schema.pop("nullable", False) is True and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    props = schema.get("properties")
    if isinstance(props, dict):
        hidden = [k for k, v in props.items() if isinstance(v, dict) and v.get("readOnly")]
        for k in hidden:
            del props[k]
        if isinstance(schema.get("required"), list):
            schema["required"] = [r for r in schema["required"] if r not in hidden]
    return schema


def _tool_name(text: str) -> str:
    name = re.sub("_+", "_", _NOT_NAME.sub("_", text)).strip("_") or "operation"
    return ("_" + name if name[0].isdigit() else name)[:64]


def _unique(name: str, taken: Mapping[str, str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate, n = name[: 64 - len(suffix)] + suffix, n + 1
    return candidate


def load_openapi_tools(
    path: str | Path,
    *,
    allow: Iterable[str] = (),
    base_url: str | None = None,
    operations: Collection[str] | None = None,
    side_effects: Mapping[str, SideEffect] | None = None,
    prefix: str = "",
    headers: Mapping[str, str] | None = None,
    timeout_ms: int = 10_000,
    resolver: Resolver | None = None,
    transport_factory: TransportFactory | None = None,
) -> HttpToolset:
    """Load an OpenAPI document (JSON or YAML) as a toolset; see :func:`openapi_tool_file`."""
    p = Path(path)
    doc = read_document(p, "OpenAPI document")
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: expected an OpenAPI document (a mapping with 'openapi')")
    spec = openapi_tool_file(
        json.loads(json.dumps(doc, default=str)),  # YAML dates etc. as JSON values
        source=str(p),
        base_url=base_url,
        operations=operations,
        side_effects=side_effects,
        prefix=prefix,
        headers=headers,
        timeout_ms=timeout_ms,
    )
    return HttpToolset(
        spec,
        allow=allow,
        source=str(p),
        resolver=resolver,
        transport_factory=transport_factory,
    )
