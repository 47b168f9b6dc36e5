"""``@tool``: turn a typed, documented Python function into a :class:`Tool`.

The input schema comes from the type hints (via a pydantic model built from the signature), the
description from the docstring's first paragraph and each parameter's description from the
Google-style ``Args:`` section. A parameter annotated :class:`ToolContext` is injected by the
executor and never shown to the model.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, overload

import pydantic

from tether.errors import ConfigError, ToolArgumentError
from tether.tools.contract import RetryPolicy, SideEffect, Tool, ToolContext, ToolContract
from tether.tools.docstrings import parse_docstring

_JSON_SCALARS: frozenset[object] = frozenset({str, int, float, bool, type(None), Any, object})
_JSON_CONTAINERS: frozenset[object] = frozenset({list, dict})


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    side_effect: SideEffect = "read",
    idempotent: bool = False,
    timeout_ms: int = 10_000,
    retry: RetryPolicy | None = None,
    cost: Decimal | int | str = Decimal(0),
    auth_scope: str | None = None,
    rate_limit_qps: float | None = None,
    version: str = "1",
    output_schema: dict[str, Any] | None = None,
    risk_fields: Mapping[str, str] | None = None,
    sink: bool | None = None,
    trusted_output: bool = False,
    retrieval: bool = False,
    reconcile: Callable[[ToolContext], Any] | None = None,
    compensate: Callable[[ToolContext, dict[str, Any], Any], Any] | None = None,
    secrets: Sequence[str] = (),
    parallel: bool | None = None,
    batch: Callable[..., Any] | None = None,
    isolation: Literal["thread", "process"] = "thread",
    describe_change: Callable[[ToolContext, dict[str, Any]], Any] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    side_effect: SideEffect = "read",
    idempotent: bool = False,
    timeout_ms: int = 10_000,
    retry: RetryPolicy | None = None,
    cost: Decimal | int | str = Decimal(0),
    auth_scope: str | None = None,
    rate_limit_qps: float | None = None,
    version: str = "1",
    output_schema: dict[str, Any] | None = None,
    risk_fields: Mapping[str, str] | None = None,
    sink: bool | None = None,
    trusted_output: bool = False,
    retrieval: bool = False,
    reconcile: Callable[[ToolContext], Any] | None = None,
    compensate: Callable[[ToolContext, dict[str, Any], Any], Any] | None = None,
    secrets: Sequence[str] = (),
    parallel: bool | None = None,
    batch: Callable[..., Any] | None = None,
    isolation: Literal["thread", "process"] = "thread",
    describe_change: Callable[[ToolContext, dict[str, Any]], Any] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a :class:`Tool` of a function; use bare (``@tool``) or with options (``@tool(...)``).

    ``secrets``: the secret names the tool reads from ``ctx.secrets`` (tether.secrets).
    ``parallel``: may run alongside the other calls of one model step (default: reads only).
    ``batch``: a function making several calls at once (see ``Tool.batch``); the executor uses
    it when the model asks for this tool more than once in one step.
    ``isolation="process"``: a sync tool runs in a subprocess killed at its timeout.
    """
    options: dict[str, Any] = {
        "side_effect": side_effect,
        "idempotent": idempotent,
        "timeout_ms": timeout_ms,
        "retry": retry or RetryPolicy(),
        "cost": Decimal(cost),
        "auth_scope": auth_scope,
        "rate_limit_qps": rate_limit_qps,
        "version": version,
        "output_schema": output_schema,
        "risk_fields": dict(risk_fields or {}),
        "secrets": tuple(secrets) if not isinstance(secrets, str) else secrets,
        "parallel": parallel,
        "isolation": isolation,
        "sink": sink,
        "trusted_output": trusted_output,
        "retrieval": retrieval,
    }

    def build(func: Callable[..., Any]) -> Tool:
        made = make_tool(func, name=name, description=description, **options)
        return dataclasses.replace(
            made,
            reconcile=reconcile,
            compensate=compensate,
            batch=batch,
            describe_change=describe_change,
        )

    return build(fn) if fn is not None else build


def make_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    **contract_options: Any,
) -> Tool:
    """Build a :class:`Tool` from ``fn``; ``contract_options`` are extra ToolContract fields."""
    tool_name: str = name or str(getattr(fn, "__name__", ""))
    doc = parse_docstring(inspect.getdoc(fn))
    text = (description or doc.summary).strip()
    if not text:
        raise ConfigError(
            f"tool {tool_name!r}: no description; add a docstring to the function "
            "or pass description=... to @tool"
        )
    model, context_param, needs_binding = _signature_model(fn, tool_name, doc.params)
    contract = ToolContract(
        name=tool_name,
        description=text,
        input_schema=_input_schema(model),
        **contract_options,
    )
    call = _binding_wrapper(fn, model, tool_name) if needs_binding else fn
    return Tool(contract=contract, fn=call, wants_context=context_param)


def _signature_model(
    fn: Callable[..., Any], tool_name: str, descriptions: dict[str, str]
) -> tuple[type[pydantic.BaseModel], str | None, bool]:
    """A pydantic model of ``fn``'s parameters, the context parameter, and whether to bind."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError for unresolvable forward references, and more
        raise ConfigError(
            f"tool {tool_name!r}: cannot resolve its type hints ({exc}); "
            "import the annotated types at module level"
        ) from exc
    fields: dict[str, Any] = {}
    context_param: str | None = None
    needs_binding = False
    for param in inspect.signature(fn).parameters.values():
        where = f"tool {tool_name!r}: parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ConfigError(f"{where} must be a plain or keyword-only parameter")
        if param.name.startswith("_"):
            raise ConfigError(f"{where}: argument names may not start with '_'; rename it")
        if param.name not in hints:
            raise ConfigError(f"{where} has no type hint; annotate it (e.g. `{param.name}: str`)")
        annotation = hints[param.name]
        if _strip_annotated(annotation) is ToolContext:
            context_param = param.name
            continue
        needs_binding = needs_binding or not _is_json_native(annotation)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            annotation,
            pydantic.Field(default, description=descriptions.get(param.name)),
        )
    try:
        model = pydantic.create_model(
            f"{tool_name}_arguments",
            __config__=pydantic.ConfigDict(extra="forbid", protected_namespaces=()),
            **fields,
        )
        model.model_json_schema()
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise ConfigError(
            f"tool {tool_name!r}: its parameters cannot be described as JSON Schema ({exc}); "
            "use JSON-friendly types (str, int, float, bool, list, dict, Literal, pydantic models)"
        ) from exc
    return model, context_param, needs_binding


def _input_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = _strip_titles(model.model_json_schema())
    schema["additionalProperties"] = False
    schema.setdefault("properties", {})
    schema.setdefault("required", [])
    return schema


def _strip_titles(node: Any, *, names: bool = False) -> Any:
    """Drop pydantic's generated ``title`` keywords (noise for a model); keep property names."""
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if names:
            out[key] = _strip_titles(value)
        elif key == "title" and isinstance(value, str):
            continue
        elif key in ("properties", "$defs", "patternProperties", "dependentSchemas"):
            out[key] = _strip_titles(value, names=True)
        elif key in ("default", "const", "enum", "examples"):
            out[key] = value
        else:
            out[key] = _strip_titles(value)
    return out


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_json_native(annotation: Any) -> bool:
    """True when a validated JSON value already has the Python type the function expects."""
    annotation = _strip_annotated(annotation)
    if annotation in _JSON_SCALARS or annotation in _JSON_CONTAINERS:
        return True
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return True
    if origin in _JSON_CONTAINERS or origin in (Union, types.UnionType):
        return all(_is_json_native(arg) for arg in typing.get_args(annotation))
    return False


def _error_path(loc: tuple[int | str, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _binding_wrapper(
    fn: Callable[..., Any], model: type[pydantic.BaseModel], name: str
) -> Callable[..., Any]:
    """Wrap ``fn`` so validated JSON arguments become the Python types its hints ask for."""
    fields = tuple(model.model_fields)

    def bind(kwargs: dict[str, Any]) -> dict[str, Any]:
        plain = {k: v for k, v in kwargs.items() if k in fields}
        try:
            parsed = model.model_validate(plain)
        except pydantic.ValidationError as exc:
            errors = [
                {"path": _error_path(e["loc"]), "message": e["msg"], "hint": "fix this value"}
                for e in exc.errors(include_url=False)
            ]
            raise ToolArgumentError(
                f"arguments for tool {name!r} are invalid ({errors[0]['path']}: "
                f"{errors[0]['message']}); fix them and call the tool again",
                tool=name,
                detail={"errors": errors},
            ) from None
        bound = {k: getattr(parsed, k) for k in plain}
        bound.update({k: v for k, v in kwargs.items() if k not in fields})
        return bound

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_call(**kwargs: Any) -> Any:
            return await fn(**bind(kwargs))

        return async_call

    @functools.wraps(fn)
    def call(**kwargs: Any) -> Any:
        return fn(**bind(kwargs))

    return call
