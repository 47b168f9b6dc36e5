"""The one settings object: the only reader of the environment (prefix ``TETHER_``)."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tether.errors import ConfigError
from tether.governance.budget import Budget
from tether.secrets import SecretSource


class Settings(BaseSettings):
    """Runtime settings. Every field reads ``TETHER_<NAME>`` from the environment."""

    # The environment wins over a ``.env`` file in the working folder (keys may live there),
    # which wins over the project's ``tether.toml`` (top-level keys are these fields' names).
    model_config = SettingsConfigDict(
        env_prefix="TETHER_",
        extra="ignore",
        env_file=".env",
        env_file_encoding="utf-8",
        toml_file="tether.toml",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls)
        return (init_settings, env_settings, dotenv_settings, toml, file_secret_settings)

    home: Path = Field(default=Path(".tether"), description="folder for the database and files")
    db: str | None = Field(default=None, description="database URL; default: SQLite in home")
    model: str = Field(default="local:smollm2", description="default model id")
    model_path: Path | None = Field(default=None, description="GGUF file for local:smollm2")
    n_threads: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2),
        ge=1,
        description="llama.cpp threads (default: half the cores; measured fastest on 2 cores)",
    )
    n_ctx: int = Field(default=4096, ge=512, description="llama.cpp context length")
    redact: bool = Field(default=True, description="redact secrets and PII in stored events")
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description="named secrets for tools; their values are redacted"
    )
    secrets_file: Path | None = Field(
        default=None, description="secrets for tools: .json, .toml or NAME=value (mode 600)"
    )
    workspace: Path = Field(default=Path("."), description="folder the file tools may read")
    worker_concurrency: int = Field(default=4, ge=1, le=1000, description="runs per worker")
    global_concurrency: int | None = Field(
        default=None, ge=1, description="runs at once across all workers (DBOS queue limit)"
    )
    queue_poll_s: float = Field(
        default=1.0, gt=0, le=60, description="how often a worker looks for queued runs"
    )
    db_pool_size: int = Field(
        default=5, ge=1, le=200, description="tether's PostgreSQL connections per process"
    )
    dbos_pool_size: int = Field(
        default=10, ge=2, le=200, description="DBOS's PostgreSQL connections per process"
    )
    executor_id: str | None = Field(default=None, description="stable id of this worker")
    lease_s: float = Field(default=15.0, gt=0.5, description="executor lease length, seconds")
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TETHER_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="key for openai: models (TETHER_OPENAI_API_KEY or OPENAI_API_KEY)",
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TETHER_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
        description="key for anthropic: models",
    )
    model_timeout_s: float = Field(default=60.0, gt=0, description="per model request")
    prices: dict[str, tuple[Decimal, Decimal]] = Field(
        default_factory=dict,
        description="price overrides: model name -> (input, output) per million tokens",
    )
    model_max_attempts: int = Field(default=4, ge=1, le=20, description="tries per model call")
    model_retry_base_s: float = Field(default=0.5, ge=0, description="first retry backoff")
    model_rate_limit_qps: float | None = Field(
        default=None, gt=0, description="requests per second per hosted model (token bucket)"
    )
    breaker_failures: int = Field(default=5, ge=1, description="failures that open a breaker")
    breaker_reset_s: float = Field(default=30.0, gt=0, description="open breaker's cool-down")
    cache_ttl_s: float = Field(default=3600.0, ge=0, description="response cache TTL; 0: off")
    policies: Path = Field(
        default=Path("policies"), description="folder of *.cedar policies and entities.json"
    )
    policy_packs: list[str] = Field(
        default_factory=lambda: [
            "ladder",
            "scopes",
            "models",
            "residency",
            "classification",
            "injection",
        ],
        description="policy packs loaded with the project's policies",
    )
    injection_defense: bool = Field(
        default=True,
        description="FOR MEASUREMENT ONLY (red-team baselines): false leaves the injection "
        "pack out, so sinks run unattended after untrusted content",
    )
    policy_reload_ms: int = Field(default=1000, ge=0, description="how often to check files")
    tenant: str = Field(default="default", description="tenant runs act for by default")
    user: str | None = Field(default=None, description="user runs act for by default")
    user_group: str | None = Field(
        default=None, description="the user's group by default (feature flags per group)"
    )
    subject: str | None = Field(
        default=None,
        description="data subject runs are about by default: PII sealed with their key",
    )
    model_regions: dict[str, str] = Field(
        default_factory=dict, description="model id or provider -> region (data residency)"
    )
    approved_labels: dict[str, list[str]] = Field(
        default_factory=dict,
        description="model id, provider or tool name -> data labels it may receive (pii, secret)",
    )
    approval_reviewers: str = Field(
        default="reviewers", description="reviewer group approvals go to (policy may name one)"
    )
    approval_timeout_s: float | None = Field(
        default=None, gt=0, description="seconds an approval waits; None: until decided"
    )
    approval_escalate_to: str | None = Field(
        default=None, description="group a timed-out approval goes to; None: it is denied"
    )
    embed_model: str = Field(
        default="local:all-minilm-l6-v2",
        description="memory embeddings: local:all-minilm-l6-v2 (in a wheel) or openai:NAME",
    )
    embed_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint for openai:NAME embeddings"
    )
    embed_api_key: SecretStr | None = Field(
        default=None, description="key for the embeddings endpoint (default: the OpenAI key)"
    )
    memory_cache_ttl_s: float = Field(
        default=60.0, ge=0, description="memory search result cache TTL; 0: off"
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="base64 32-byte key wrapping per-subject data keys; default: a key file "
        "made in home (master.key, mode 600)",
    )
    otlp_endpoint: str | None = Field(default=None, description="OTLP/HTTP traces endpoint")
    log_format: Literal["text", "json"] = Field(
        default="json", description="log lines of `tether serve` and `tether worker`"
    )
    tenant_budgets: dict[str, Budget] = Field(
        default_factory=dict,
        description='per tenant, over all its runs: JSON, e.g. {"acme": {"money": "5.00"}}',
    )
    run_checks: bool = Field(
        default=True,
        description="per-run automatic checks at the finish (tether/evals/autochecks.py)",
    )
    run_check_noop_max: int = Field(
        default=3, ge=0, description="repeated calls with the same result before noop_spam"
    )
    run_check_external_max: int | None = Field(
        default=50, ge=0, description="sink calls per run before external_calls; None: off"
    )
    http_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="SSRF exceptions for HTTP tools: hosts, IPs, CIDRs (comma-separated or JSON)",
    )

    @field_validator("http_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.home / 'tether.db'}"

    def secret_source(self, on_value: Callable[[str], None] | None = None) -> SecretSource:
        """Tools' secrets, read at each lookup from the live environment
        (``TETHER_SECRET_<NAME>``, ``TETHER_SECRETS``), ``secrets_file`` and ``secrets``."""
        return SecretSource(
            environ=os.environ,
            file=self.secrets_file,
            static={k: v.get_secret_value() for k, v in self.secrets.items()},
            on_value=on_value,
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value is a ``ConfigError`` naming the field."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"tether.toml is not valid TOML: {exc}; fix the syntax") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"setting TETHER_{field.upper()} (or {field!r} in tether.toml) is invalid: "
            f"{err['msg']}; fix or unset it"
        ) from exc
