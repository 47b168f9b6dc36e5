"""Models: the ``Model`` protocol, the embedded llama.cpp adapter and model-id resolution."""

from tether.models.base import Model
from tether.models.local import LocalModel
from tether.models.registry import default_model_path, resolve_model

__all__ = ["LocalModel", "Model", "default_model_path", "resolve_model"]
