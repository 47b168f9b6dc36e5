"""Loading policies: the packs tether ships, the project's ``policies/*.cedar`` and its
``policies/entities.json``, each parsed once and validated against tether's Cedar schema.

This is the I/O edge of governance: ``PolicySource.current()`` re-reads the folder only when
a file's mtime or size changed, and checks at most once per ``reload_ms`` (on the clock it is
given). A file that does not parse or validate is a ``ConfigError`` naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy

from tether.clock import Clock
from tether.errors import ConfigError
from tether.governance.engine import Policies
from tether.governance.terms import check_annotations

PACKS = ("ladder", "scopes", "models", "residency", "classification", "injection")
ENTITIES_FILE = "entities.json"
_FILE_ENTITY_TYPES = frozenset({"Tenant", "User"})

Fingerprint = tuple[tuple[str, int, int], ...]


def schema_text() -> str:
    return resources.files("tether.governance").joinpath("schema.cedarschema").read_text()


def pack_text(name: str) -> str:
    if name not in PACKS:
        raise ConfigError(f"policy pack {name!r} is unknown; use some of {list(PACKS)}")
    return resources.files("tether.governance").joinpath(f"packs/{name}.cedar").read_text()


@dataclass(frozen=True, kw_only=True)
class Source:
    """One policy text and where it came from (``pack:ladder``, ``policies/pay.cedar``)."""

    name: str
    text: str


def compile_policies(
    sources: Sequence[Source], entities_json: str | None = None, entities_name: str = ""
) -> Policies:
    """Parse and validate every source; one ``Policies`` with stable policy ids.

    A policy's id is its ``@id`` annotation, else ``<source>:policyN``; ids must be unique.
    """
    schema = _schema()
    policies: dict[str, dict[str, Any]] = {}
    for source in sources:
        for pid, est in _parse(source, schema).items():
            if pid in policies:
                raise ConfigError(
                    f"{source.name}: policy id {pid!r} is used twice; give each policy its "
                    "own @id(...)"
                )
            policies[pid] = est
    entities = _entities(entities_json, entities_name, schema)
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.text.encode() + b"\0")
    digest.update((entities_json or "").encode())
    return Policies(
        policies=policies,
        schema=schema,
        entities=entities,
        version=digest.hexdigest()[:16],
    )


def _schema() -> cedarpy.Schema:
    return cedarpy.Schema.from_str(schema_text())


def _parse(source: Source, schema: cedarpy.Schema) -> dict[str, dict[str, Any]]:
    try:
        est = json.loads(cedarpy.policies_to_json_str(source.text))
    except ValueError as exc:
        raise ConfigError(f"{source.name}: not valid Cedar: {exc}; fix the policy") from exc
    if est.get("templates"):
        raise ConfigError(
            f"{source.name}: policy templates (?principal, ?resource) are not supported; "
            "write static policies"
        )
    result = cedarpy.validate_policies(source.text, schema)
    if not result.validation_passed:
        errors = "; ".join(str(e) for e in result.errors)
        raise ConfigError(
            f"{source.name}: policy does not validate against tether's schema: {errors}. "
            "Guard optional attributes with `has` and use the schema's entity and action names"
        )
    out: dict[str, dict[str, Any]] = {}
    for pid, policy in est["staticPolicies"].items():
        annotated = policy.get("annotations", {}).get("id")
        out[annotated or f"{source.name}:{pid}"] = policy
        check_annotations(
            f"{source.name}: policy {annotated or pid!r}", policy.get("annotations", {})
        )
    return out


def _entities(text: str | None, name: str, schema: cedarpy.Schema) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        data = json.loads(text)
        cedarpy.Entities.from_json_str(text, schema)
    except ValueError as exc:
        raise ConfigError(f"{name}: invalid Cedar entities: {exc}; fix the file") from exc
    if not isinstance(data, list):
        raise ConfigError(f"{name}: expected a JSON list of entities")
    for entity in data:
        kind = entity.get("uid", {}).get("type") if isinstance(entity, dict) else None
        if kind not in _FILE_ENTITY_TYPES:
            raise ConfigError(
                f"{name}: entity of type {kind!r}; this file may define only "
                f"{sorted(_FILE_ENTITY_TYPES)} (tether builds Agent, Tool and Model entities)"
            )
    return data


@dataclass(kw_only=True)
class PolicySource:
    """The policies of a project folder plus packs, reloaded when a file changes."""

    folder: Path
    clock: Clock
    packs: Sequence[str] = PACKS
    reload_ms: int = 1000
    _loaded: Policies | None = field(default=None, repr=False)
    _fingerprint: Fingerprint | None = field(default=None, repr=False)
    _checked_at: float | None = field(default=None, repr=False)

    def current(self) -> Policies:
        """The loaded policies, re-read when the folder's files changed since the last load."""
        now = self.clock.monotonic()
        fresh = self._checked_at is not None and (now - self._checked_at) * 1000 < self.reload_ms
        if fresh and self._loaded is not None:
            return self._loaded
        self._checked_at = now
        fingerprint = self._scan()
        if self._loaded is None or fingerprint != self._fingerprint:
            self._loaded = self._load()
            self._fingerprint = fingerprint
        return self._loaded

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.cedar"))

    def _scan(self) -> Fingerprint:
        paths = [*self._files(), self.folder / ENTITIES_FILE]
        out = []
        for p in paths:
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out.append((str(p), st.st_mtime_ns, st.st_size))
        return tuple(out)

    def _load(self) -> Policies:
        sources = [Source(name=f"pack:{name}", text=pack_text(name)) for name in self.packs]
        for path in self._files():
            sources.append(Source(name=str(path), text=_read(path)))
        entities_path = self.folder / ENTITIES_FILE
        entities = _read(entities_path) if entities_path.is_file() else None
        return compile_policies(sources, entities, str(entities_path))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"policy file {str(path)!r} cannot be read: {exc}") from exc
