"""Envelope encryption keys: one master key, one data key per (tenant, subject).

The master key (32 bytes) comes from ``TETHER_MASTER_KEY`` (base64, standard or URL-safe); with
no variable set, from the key file ``$TETHER_HOME/master.key``, created on first use with mode
0600. It never touches the database: it wraps (AES-GCM) each subject's data key, and the
wrapped keys live in ``tether_subject_keys`` next to a fingerprint of the master key that wrapped
them, so a process holding another master key gets a clear error instead of garbage.

Subjects are stored as keyed hashes (HMAC-SHA256 under a key derived from the master key), never
in clear: the keys table and the forget log do not name anyone. Destroying a subject's row
(``forget``) makes everything sealed under its data key unreadable, wherever it was copied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tether.errors import ConfigError, StoreError, UsageError
from tether.store.engine import insert_ignoring_conflicts, write_transaction
from tether.store.schema import subject_keys

MASTER_KEY_ENV = "TETHER_MASTER_KEY"
KEY_FILE = "master.key"
GENERATE = (
    'generate one with: python -c "import base64, os; '
    'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"  (or: openssl rand -base64 32)'
)
_NONCE = 12


def _derive(key: bytes, label: str) -> bytes:
    return hmac.new(key, f"tether:{label}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class MasterKey:
    """The key that wraps data keys; ``source`` says where it came from (for messages)."""

    key: bytes = field(repr=False)
    source: str

    @property
    def id(self) -> str:
        """A fingerprint: tells master keys apart without revealing them."""
        return _derive(self.key, "master-id").hex()[:16]

    def subject_hash(self, tenant: str, subject: str) -> str:
        """The keyed hash that stands for a subject in tether's tables."""
        mac = hmac.new(_derive(self.key, "subject"), digestmod=hashlib.sha256)
        mac.update(f"{tenant}\x1f{subject}".encode())
        return mac.hexdigest()

    def wrap(self, key_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self.key).encrypt(nonce, data_key, key_id.encode())

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return AESGCM(self.key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], key_id.encode())
        except InvalidTag as exc:
            raise StoreError(
                f"data key {key_id!r} does not open with the master key from {self.source}; "
                f"the row was tampered with, or {MASTER_KEY_ENV} differs from the one it was "
                "wrapped with"
            ) from exc


def parse_master_key(text: str, source: str = MASTER_KEY_ENV) -> MasterKey:
    """A master key from its base64 text; a ConfigError naming ``source`` and the fix."""
    value = text.strip()
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"{source} is not a base64-encoded 32-byte key ({len(value)} characters, "
            f"{len(raw)} bytes decoded); {GENERATE}"
        )
    return MasterKey(raw, source)


def load_master_key(value: str | None, home: Path) -> MasterKey:
    """``TETHER_MASTER_KEY`` when set, else the key file in ``home`` (made once, mode 0600)."""
    if value:
        return parse_master_key(value)
    path = home / KEY_FILE
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the master key file {str(path)!r}: {exc.strerror}; set "
            f"{MASTER_KEY_ENV} or make TETHER_HOME writable"
        ) from exc
    with os.fdopen(fd, "w") as out:
        out.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
    return _read_key_file(path)


def _read_key_file(path: Path) -> MasterKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"master key file {str(path)!r} is readable by others (mode {mode:o}); chmod 600 {path}"
        )
    return parse_master_key(path.read_text(), f"the key file {str(path)!r}")


@dataclass(frozen=True)
class DataKey:
    """One subject's AES-256-GCM key, unwrapped."""

    id: str
    key: bytes = field(repr=False)


class Keyring:
    """The data keys of subjects, wrapped by one master key, in ``tether_subject_keys``.

    Unwrapped keys are not kept between calls: a key destroyed by another process stops
    opening anything here at the next call.
    """

    def __init__(self, engine: sa.Engine, master: MasterKey | Callable[[], MasterKey]) -> None:
        """``master``: the key, or a function that loads it on first need (so that stores
        that never see PII never read or create one)."""
        self.engine = engine
        self._master = master

    @property
    def master(self) -> MasterKey:
        if not isinstance(self._master, MasterKey):
            self._master = self._master()
        return self._master

    def key_for(self, tenant: str, subject: str) -> DataKey:
        """The subject's data key, created on first use (safe against concurrent writers)."""
        if not tenant:
            raise UsageError("a data key needs a tenant")
        return self.key_for_hash(tenant, self.master.subject_hash(tenant, subject))

    def key_for_hash(self, tenant: str, hashed: str) -> DataKey:
        """:meth:`key_for` by the subject's keyed hash (what a run's journal records)."""
        found = self._find(tenant, hashed)
        if found is not None:
            return found
        self._check_master(tenant)
        key_id, material = secrets.token_hex(8), AESGCM.generate_key(bit_length=256)
        row = {
            "key_id": key_id,
            "tenant": tenant,
            "subject_hash": hashed,
            "master_id": self.master.id,
            "wrapped": self.master.wrap(key_id, material),
            "created_at": datetime.now(UTC),
        }
        with write_transaction(self.engine) as conn:
            conn.execute(insert_ignoring_conflicts(conn, subject_keys), row)
        found = self._find(tenant, hashed)
        if found is None:  # pragma: no cover - a forget between our insert and read
            raise StoreError(f"the data key of a subject of tenant {tenant!r} vanished; retry")
        return found

    def keys(self, tenant: str, key_ids: Iterable[str]) -> dict[str, DataKey]:
        """The tenant's live data keys among ``key_ids`` (destroyed or foreign ones are absent)."""
        ids = sorted(set(key_ids))
        if not ids:
            return {}
        c = subject_keys.c
        stmt = sa.select(c.key_id, c.master_id, c.wrapped).where(
            c.tenant == tenant, c.key_id.in_(ids)
        )
        with self.engine.connect() as conn:
            return {r.key_id: self._unwrap(r) for r in conn.execute(stmt)}

    def _check_master(self, tenant: str) -> None:
        """Another master key's data keys in the tenant: making a new one would split it."""
        c = subject_keys.c
        stmt = sa.select(c.key_id, c.master_id, c.wrapped).where(
            c.tenant == tenant, c.master_id != self.master.id
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt.limit(1)).first()
        if row is not None:
            self._unwrap(row)  # raises: names both master keys

    def _find(self, tenant: str, hashed: str) -> DataKey | None:
        c = subject_keys.c
        stmt = sa.select(c.key_id, c.master_id, c.wrapped).where(
            c.tenant == tenant, c.subject_hash == hashed
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else self._unwrap(row)

    def _unwrap(self, row: sa.Row[Any, Any, Any]) -> DataKey:
        if row.master_id != self.master.id:
            raise ConfigError(
                f"data key {row.key_id!r} was wrapped by master key {row.master_id} but "
                f"{self.master.source} is master key {self.master.id}; give every process the "
                f"same {MASTER_KEY_ENV}"
            )
        return DataKey(row.key_id, self.master.unwrap(row.key_id, bytes(row.wrapped)))


def destroy_key(conn: sa.Connection, tenant: str, subject_hash: str) -> int:
    """Delete the subject's data key inside the caller's transaction; returns rows deleted."""
    c = subject_keys.c
    result = conn.execute(
        sa.delete(subject_keys).where(c.tenant == tenant, c.subject_hash == subject_hash)
    )
    return int(result.rowcount or 0)
