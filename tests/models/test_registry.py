from __future__ import annotations

from pathlib import Path

import pytest

from tests.models.conftest import fake
from tether.errors import ConfigError, UnknownModelError
from tether.models import LocalModel, default_model_path, resolve_model
from tether.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(model_path=None, n_threads=1, n_ctx=1024)


def test_default_model_path_finds_the_smollm2_file() -> None:
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_local_smollm2_uses_the_wheel_file_or_the_setting(
    settings: Settings, tmp_path: Path
) -> None:
    model = resolve_model("local:smollm2", settings)
    assert isinstance(model, LocalModel)
    assert (model.id, model.path) == ("local:smollm2", default_model_path())
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    configured = resolve_model("local:smollm2", Settings(model_path=other))
    assert isinstance(configured, LocalModel)
    assert configured.path == other


def test_local_path_must_exist(settings: Settings, tmp_path: Path) -> None:
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"GGUF")
    model = resolve_model(f"local:{weights}", settings)
    assert isinstance(model, LocalModel)
    assert model.path == weights
    with pytest.raises(ConfigError, match=r"missing\.gguf.*does not exist"):
        resolve_model(f"local:{tmp_path / 'missing.gguf'}", settings)
    with pytest.raises(ConfigError, match="TETHER_MODEL_PATH"):
        resolve_model("local:smollm2", Settings(model_path=tmp_path / "missing.gguf"))


@pytest.mark.parametrize("model_id", ["foo", "local:", "local:model.bin", "mystery:thing", ""])
def test_unknown_ids_list_the_valid_forms(settings: Settings, model_id: str) -> None:
    with pytest.raises(UnknownModelError, match=r"local:smollm2, local:PATH\.gguf") as info:
        resolve_model(model_id, settings)
    assert "\n" not in str(info.value)
    assert repr(model_id) in str(info.value)


@pytest.mark.parametrize(
    ("model_id", "cls", "name"),
    [
        ("openai:gpt-4o-mini", "OpenAIModel", "gpt-4o-mini"),
        ("openai:http://127.0.0.1:8000/v1#qwen2.5", "OpenAIModel", "qwen2.5"),
        ("anthropic:claude-haiku-4-5", "AnthropicModel", "claude-haiku-4-5"),
    ],
)
def test_hosted_providers_resolve(settings: Settings, model_id: str, cls: str, name: str) -> None:
    model = resolve_model(model_id, settings)
    assert type(model).__name__ == cls
    assert model.id == model_id


def test_endpoint_without_a_model_name_is_refused(settings: Settings) -> None:
    with pytest.raises(UnknownModelError, match="#MODEL"):
        resolve_model("openai:http://127.0.0.1:8000/v1", settings)


def test_extra_models_take_precedence(settings: Settings) -> None:
    scripted = LocalModel("scripted:x", Path("unused.gguf"), llama=fake([]))
    assert resolve_model("scripted:x", settings, extra={"scripted:x": scripted}) is scripted
    with pytest.raises(UnknownModelError):
        resolve_model("scripted:y", settings, extra={"scripted:x": scripted})
