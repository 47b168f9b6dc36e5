"""Scoped credentials for tools (DESIGN §2.5): each tool gets only the secrets it declares.

A contract declares the names it needs (``@tool(secrets=("crm_read",))``). A name's *scope*
is part of the name: one ending in ``_write`` is a write credential, any other a read
credential. A read tool (``side_effect="read"``) may not declare a write credential, so read
and write tools of one service run with separate credentials (``crm_read`` and ``crm_write``).

Values are looked up at each access, so a rotated secret takes effect at the next call without a
restart. First match wins:

1. the environment variable ``TETHER_SECRET_<NAME>`` (upper case);
2. the JSON object in ``TETHER_SECRETS`` (``{"crm_read": "..."}``);
3. the secrets file ``TETHER_SECRETS_FILE``: ``.json`` (an object), ``.toml`` (top-level
   keys) or else ``NAME=value`` lines; it must not be readable by group or others;
4. ``Settings(secrets=...)`` passed in code.

Every value handed to a tool is also handed to the redactor first, so it cannot reach the
journal, the prompt, spans or logs.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from tether.errors import ConfigError, SecretError

SecretScope = Literal["read", "write"]
WRITE_SUFFIX = "_write"
SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ENV_PREFIX = "TETHER_SECRET_"


def secret_scope(name: str) -> SecretScope:
    """``"write"`` for a name ending in ``_write``, else ``"read"``."""
    return "write" if name.endswith(WRITE_SUFFIX) else "read"


def check_declared(tool: str, side_effect: str, names: Sequence[str]) -> tuple[str, ...]:
    """The declared secret names of ``tool``, checked; a read tool may hold read scopes only."""
    if isinstance(names, str):
        raise ConfigError(f"tool {tool!r}: secrets must be a tuple of names, e.g. ({names!r},)")
    for name in names:
        if not isinstance(name, str) or not SECRET_NAME.match(name):
            raise ConfigError(
                f"tool {tool!r}: secret name {name!r} must match {SECRET_NAME.pattern} "
                "(lower case letters, digits and '_'); rename it"
            )
        if side_effect == "read" and secret_scope(name) == "write":
            stem = name.removesuffix(WRITE_SUFFIX)
            raise ConfigError(
                f"tool {tool!r} is a read tool and may not hold the write credential {name!r}; "
                f"declare a read credential (e.g. {stem + '_read'!r}) or make the tool "
                "side_effect='write'"
            )
    return tuple(dict.fromkeys(names))


class SecretSource:
    """Where secret values live; see the module docstring for the lookup order.

    ``on_value`` sees every value before a tool does (the runtime passes its redactor's
    ``add_secret``). The file is read at each lookup and parsed again when its bytes change
    (not when its size or modification time does: a rotation written in place within one
    clock tick, or with its old mtime kept, keeps both).
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] = MappingProxyType({}),
        file: Path | None = None,
        static: Mapping[str, str] = MappingProxyType({}),
        on_value: Callable[[str], None] | None = None,
    ) -> None:
        self._environ = environ
        self._file = file
        self._static = {k.lower(): v for k, v in static.items()}
        self._on_value = on_value
        self._lock = threading.Lock()
        self._file_cache: tuple[bytes, dict[str, str]] | None = None  # (sha256, values)

    def get(self, name: str) -> str | None:
        """The current value of ``name``, or None when no source has it."""
        value = self._lookup(name.lower())
        if value is not None and self._on_value is not None:
            with self._lock:
                self._on_value(value)
        return value

    def known_values(self) -> list[str]:
        """Every value the sources hold now (for a redactor made at start-up)."""
        values = [v for k, v in self._environ.items() if k.startswith(ENV_PREFIX)]
        values += list(self._env_json().values()) + list(self._static.values())
        if self._file is not None:
            values += list(self._read_file().values())
        return values

    def for_tool(self, tool: str, declared: Sequence[str]) -> ToolSecrets:
        return ToolSecrets(tool, declared, self)

    def _lookup(self, name: str) -> str | None:
        value = self._environ.get(ENV_PREFIX + name.upper())
        if value is None:
            value = self._env_json().get(name)
        if value is None and self._file is not None:
            value = self._read_file().get(name)
        if value is None:
            value = self._static.get(name)
        return value

    def _env_json(self) -> dict[str, str]:
        raw = self._environ.get("TETHER_SECRETS")
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"TETHER_SECRETS is not valid JSON ({exc.msg}); set it to an object of names "
                'to values, e.g. {"crm_read": "..."}'
            ) from None
        return _string_map(data, "TETHER_SECRETS")

    def _read_file(self) -> dict[str, str]:
        assert self._file is not None
        path = self._file
        try:
            info = path.stat()
        except OSError as exc:
            raise ConfigError(
                f"secrets file {str(path)!r} cannot be read ({exc.strerror}); "
                "fix TETHER_SECRETS_FILE"
            ) from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"secrets file {str(path)!r} is open to group or others "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:  # replaced or removed between the stat and the read
            raise ConfigError(
                f"secrets file {str(path)!r} cannot be read ({exc.strerror}); "
                "fix TETHER_SECRETS_FILE"
            ) from None
        digest = hashlib.sha256(data).digest()
        with self._lock:
            cached = self._file_cache
        if cached is not None and cached[0] == digest:
            return cached[1]
        values = parse_secrets_text(path, data.decode("utf-8"))
        with self._lock:
            self._file_cache = (digest, values)
        return values


def parse_secrets_file(path: Path) -> dict[str, str]:
    """Names to values from a ``.json``, ``.toml`` or ``NAME=value`` file (names lower-cased)."""
    return parse_secrets_text(path, path.read_text(encoding="utf-8"))


def parse_secrets_text(path: Path, text: str) -> dict[str, str]:
    """Names to values from the text of the secrets file ``path`` (its suffix picks the format)."""
    where = f"secrets file {str(path)!r}"
    try:
        if path.suffix == ".json":
            return _string_map(json.loads(text), where)
        if path.suffix == ".toml":
            return _string_map(tomllib.loads(text), where)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where} cannot be parsed ({exc}); fix its syntax") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{where} line {number}: expected NAME=value")
        values[name.strip().lower()] = value.strip().strip("\"'")
    return values


def _string_map(data: Any, where: str) -> dict[str, str]:
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"{where} must map secret names to string values")
    return {str(k).lower(): v for k, v in data.items()}


class ToolSecrets(Mapping[str, str]):
    """What a tool sees as ``ctx.secrets``: only its declared names, read at each access.

    An undeclared name, or a declared one no source holds, raises :class:`SecretError` (never a
    ``KeyError``, so ``.get()`` cannot hide the mistake).
    """

    def __init__(self, tool: str, declared: Sequence[str], source: SecretSource) -> None:
        self._tool = tool
        self._declared = tuple(declared)
        self._source = source

    def __getitem__(self, name: str) -> str:
        if name not in self._declared:
            raise SecretError(
                f"tool {self._tool!r} asked for secret {name!r}, which it does not declare; "
                f"add it to the tool's contract (secrets=({name!r},))"
            )
        value = self._source.get(name)
        if value is None:
            raise SecretError(
                f"secret {name!r} for tool {self._tool!r} is not set; set "
                f"{ENV_PREFIX}{name.upper()} or add {name!r} to TETHER_SECRETS_FILE"
            )
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._declared

    def __iter__(self) -> Iterator[str]:
        return iter(self._declared)

    def __len__(self) -> int:
        return len(self._declared)

    def __repr__(self) -> str:
        return f"ToolSecrets(tool={self._tool!r}, declared={list(self._declared)!r})"


def no_secrets(tool: str = "this tool") -> ToolSecrets:
    """A tool context's secrets when the caller provides none: every lookup fails clearly."""
    return ToolSecrets(tool, (), SecretSource())
