"""Building an HTTP tool's request from its template, the arguments and the secrets (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tether.errors import SecretError, ToolArgumentError, ToolError
from tether.tools.http.spec import PLACEHOLDER, READ_METHODS, SECRET_PREFIX, HttpToolSpec

NO_BODY = object()


@dataclass(frozen=True, kw_only=True)
class RequestParts:
    """What to send: method, URL, query pairs, headers and the JSON body (or ``NO_BODY``)."""

    method: str
    url: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any = NO_BODY
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    secret_headers: tuple[str, ...] = ()


def build_request(
    spec: HttpToolSpec,
    arguments: Mapping[str, Any],
    *,
    base_url: str | None,
    common_headers: Mapping[str, str],
    secrets: Mapping[str, str],
) -> RequestParts:
    """The request for one call; raises ``ToolArgumentError``, or ``ToolError`` for a missing
    secret."""
    used: set[str] = set()
    path = PLACEHOLDER.sub(lambda m: _path_value(spec, m.group(1), arguments, used), spec.url)
    url = _join(base_url, path)
    secret_values: list[str] = []
    headers: dict[str, str] = {}
    secret_headers: list[str] = []
    for name, template in {**common_headers, **spec.headers}.items():
        value = _fill_header(spec, name, template, arguments, secrets, used, secret_values)
        if value is None:
            continue
        headers[name] = value
        if "{" + SECRET_PREFIX in template:
            secret_headers.append(name)
    params = [(n, v) for n in spec.query if n in arguments for v in _query_values(arguments[n])]
    used.update(spec.query)
    body: Any = NO_BODY
    if spec.body_arg is not None:
        used.add(spec.body_arg)
        if spec.body_arg in arguments:
            body = arguments[spec.body_arg]
    rest = {k: v for k, v in arguments.items() if k not in used and v is not None}
    if spec.method in READ_METHODS:
        params += [(k, v) for k, value in rest.items() for v in _query_values(value)]
    elif rest and body is NO_BODY:
        body = rest
    elif rest:
        raise ToolArgumentError(
            f"tool {spec.name!r}: arguments {sorted(rest)!r} have no place in the request "
            f"(the body is {spec.body_arg!r}); remove them",
            tool=spec.name,
        )
    return RequestParts(
        method=spec.method,
        url=url,
        params=params,
        headers=headers,
        body=body,
        secret_values=tuple(secret_values),
        secret_headers=tuple(secret_headers),
    )


def _join(base_url: str | None, path: str) -> str:
    if base_url is None or path.lower().startswith(("http://", "https://")):
        return path
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _path_value(spec: HttpToolSpec, name: str, arguments: Mapping[str, Any], used: set[str]) -> str:
    used.add(name)
    if arguments.get(name) is None:
        raise ToolArgumentError(
            f"tool {spec.name!r} needs argument {name!r} for its URL; pass it",
            tool=spec.name,
            detail={"missing": name},
        )
    return quote(_scalar(arguments[name]), safe="")


def _fill_header(
    spec: HttpToolSpec,
    header: str,
    template: str,
    arguments: Mapping[str, Any],
    secrets: Mapping[str, str],
    used: set[str],
    secret_values: list[str],
) -> str | None:
    """The header's value; None (no header) when it is just one argument that is absent."""
    only = PLACEHOLDER.fullmatch(template)
    if only is not None and not only.group(1).startswith(SECRET_PREFIX):
        used.add(only.group(1))
        if arguments.get(only.group(1)) is None:
            return None

    def fill(match: Any) -> str:
        key: str = match.group(1)
        if key.startswith(SECRET_PREFIX):
            name = key[len(SECRET_PREFIX) :]
            try:  # a run's ToolSecrets raises SecretError for a declared name that is unset
                value = secrets[name]
            except (KeyError, SecretError):
                value = None
            if value is None:
                raise ToolError(
                    f"tool {spec.name!r} needs secret {name!r} for header {header!r}, and the "
                    f'run has none; add it to TETHER_SECRETS (JSON: {{"{name}": "..."}})',
                    tool=spec.name,
                    detail={"missing_secret": name},
                )
            secret_values.append(value)
            return value
        used.add(key)
        return "" if arguments.get(key) is None else _scalar(arguments[key])

    value = PLACEHOLDER.sub(fill, template)
    if "\r" in value or "\n" in value:
        raise ToolArgumentError(
            f"tool {spec.name!r}: header {header!r} may not contain line breaks; fix the argument",
            tool=spec.name,
        )
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _query_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [_scalar(v) for v in value if v is not None]
    return [_scalar(value)]
