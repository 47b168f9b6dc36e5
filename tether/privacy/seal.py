"""Sealing: the PII spans of a text replaced by tokens encrypted with the subject's data key.

A token is ``⟦enc:v1:KEYID:KIND:DATA⟧``: ``DATA`` is URL-safe base64 (no padding) of a random
96-bit nonce and the AES-256-GCM ciphertext of the span, authenticated with the key id and the
kind. The rest of the text stays as written, so it can still be indexed and searched; indexes
and embeddings see :func:`index_text` (each token as ``[kind]``). Opening needs the key: once a
subject is forgotten, a token reads ``[encrypted:KIND]`` forever.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tether.privacy.keys import DataKey, Keyring
from tether.privacy.pii import Span, detect

__all__ = [
    "TOKEN_RE",
    "Sealable",
    "Sealer",
    "fresh_spans",
    "index_text",
    "key_ids",
    "needs_sealing",
    "open_text",
    "open_value",
    "seal_text",
    "seal_value",
    "value_key_ids",
]

TOKEN_RE = re.compile(r"⟦enc:v1:([0-9a-f]{16}):([a-z0-9_]+):([A-Za-z0-9_-]+)⟧")
_NONCE = 12
TENANT_SUBJECT = ""  # the key of a tenant's items that name no subject


def _aad(key_id: str, kind: str) -> bytes:
    return f"tether:v1:{key_id}:{kind}".encode()


def fresh_spans(text: str, kinds: frozenset[str] | None = None) -> list[Span]:
    """The PII or secret spans (of ``kinds``, default all) of ``text`` outside the tokens it
    already holds (a token's base64 can look like an API key: it is never sealed again)."""
    spans = [s for s in detect(text) if kinds is None or s.kind in kinds]
    if not spans or "⟦enc:" not in text:
        return spans
    tokens = [m.span() for m in TOKEN_RE.finditer(text)]
    return [s for s in spans if not any(a < s.end and s.start < b for a, b in tokens)]


def needs_sealing(value: Any, kinds: frozenset[str] | None = None) -> bool:
    """Whether a JSON-like value has a string with a span :func:`seal_text` would seal."""
    if isinstance(value, str):
        return bool(fresh_spans(value, kinds))
    if isinstance(value, dict):
        return any(needs_sealing(v, kinds) for v in value.values())
    if isinstance(value, list):
        return any(needs_sealing(v, kinds) for v in value)
    return False


def seal_text(text: str, key: DataKey, kinds: frozenset[str] | None = None) -> str:
    """``text`` with each detected PII or secret span (of ``kinds``, default all) replaced by a
    token sealed with ``key``; tokens already in it are kept as they are."""
    spans = fresh_spans(text, kinds)
    if not spans:
        return text
    aead = AESGCM(key.key)
    out, last = [], 0
    for span in spans:
        nonce = os.urandom(_NONCE)
        sealed = nonce + aead.encrypt(nonce, span.value.encode(), _aad(key.id, span.kind))
        data = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
        out += [text[last : span.start], f"⟦enc:v1:{key.id}:{span.kind}:{data}⟧"]
        last = span.end
    out.append(text[last:])
    return "".join(out)


def key_ids(text: str) -> set[str]:
    """The data keys the tokens in ``text`` were sealed with."""
    if "⟦enc:" not in text:
        return set()
    return {m.group(1) for m in TOKEN_RE.finditer(text)}


def open_text(text: str, keys: Mapping[str, DataKey]) -> str:
    """``text`` with every token it has a key for opened; the others read ``[encrypted:KIND]``."""
    if "⟦enc:" not in text:
        return text

    def opened(match: re.Match[str]) -> str:
        key_id, kind, data = match.groups()
        key = keys.get(key_id)
        if key is None:
            return f"[encrypted:{kind}]"
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        try:
            plain = AESGCM(key.key).decrypt(raw[:_NONCE], raw[_NONCE:], _aad(key_id, kind))
        except InvalidTag:
            return f"[encrypted:{kind}]"
        return plain.decode()

    return TOKEN_RE.sub(opened, text)


def seal_value(value: Any, key: DataKey, kinds: frozenset[str] | None = None) -> Any:
    """A JSON-like value with the strings in it sealed (the same object when nothing was)."""
    if isinstance(value, str):
        return seal_text(value, key, kinds)
    if isinstance(value, dict):
        out = {k: seal_value(v, key, kinds) for k, v in value.items()}
        return value if all(out[k] is v for k, v in value.items()) else out
    if isinstance(value, list):
        items = [seal_value(v, key, kinds) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def value_key_ids(value: Any) -> set[str]:
    """The data keys of the tokens anywhere in a JSON-like value."""
    if isinstance(value, str):
        return key_ids(value)
    if isinstance(value, dict):
        return set().union(*(value_key_ids(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(value_key_ids(v) for v in value))
    return set()


def open_value(value: Any, keys: Mapping[str, DataKey]) -> Any:
    """A JSON-like value with the tokens in its strings opened (see :func:`open_text`)."""
    if isinstance(value, str):
        return open_text(value, keys)
    if isinstance(value, dict):
        return {k: open_value(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [open_value(v, keys) for v in value]
    return value


def index_text(text: str) -> str:
    """What an index or an embedding sees: each token as ``[kind]``."""
    if "⟦enc:" not in text:
        return text
    return TOKEN_RE.sub(lambda m: f"[{m.group(2)}]", text)


class Sealable(Protocol):
    """What :meth:`Sealer.seal_items` needs of an item (a frozen dataclass)."""

    @property
    def text(self) -> str: ...
    @property
    def heading(self) -> tuple[str, ...]: ...
    @property
    def subject(self) -> str | None: ...


S = TypeVar("S", bound=Sealable)


class Sealer:
    """Seals and opens texts for a tenant's subjects through a :class:`Keyring`."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def seal(self, tenant: str, subject: str | None, texts: Iterable[str]) -> list[str]:
        """``texts`` sealed with the subject's key (the tenant's own when ``subject`` is None);
        no key is made for texts with nothing to seal."""
        items = list(texts)
        if not any(detect(t) for t in items):
            return items
        key = self.keyring.key_for(tenant, subject or TENANT_SUBJECT)
        return [seal_text(t, key) for t in items]

    def open(self, tenant: str, texts: Iterable[str]) -> list[str]:
        """``texts`` with the tenant's tokens opened (one key lookup for all of them)."""
        items = list(texts)
        needed = set().union(*(key_ids(t) for t in items)) if items else set()
        if not needed:
            return items
        keys = self.keyring.keys(tenant, needed)
        return [open_text(t, keys) for t in items]

    def seal_value(self, tenant: str, subject: str | None, value: Any) -> Any:
        """A JSON-like value with its PII sealed with the subject's key (the tenant's own when
        ``subject`` is None); the same object, and no key made, when there is none."""
        if not needs_sealing(value):
            return value
        return seal_value(value, self.keyring.key_for(tenant, subject or TENANT_SUBJECT))

    def open_values(self, tenant: str, values: Sequence[Any]) -> list[Any]:
        """JSON-like ``values`` with the tenant's tokens opened (one key lookup for all)."""
        needed = set().union(*(value_key_ids(v) for v in values)) if values else set()
        if not needed:
            return list(values)
        keys = self.keyring.keys(tenant, needed)
        return [open_value(v, keys) for v in values]

    def seal_items(self, tenant: str, items: Sequence[S]) -> list[S]:
        """Memory items (dataclasses with ``text``, ``heading``, ``subject``) with their PII
        sealed, each under its subject's key (one key lookup per subject)."""
        keys: dict[str, DataKey] = {}
        out: list[S] = []
        for item in items:
            texts = [item.text, *item.heading]
            if not any(detect(t) for t in texts):
                out.append(item)
                continue
            subject = item.subject or TENANT_SUBJECT
            key = keys.get(subject)
            if key is None:
                key = keys[subject] = self.keyring.key_for(tenant, subject)
            sealed = [seal_text(t, key) for t in texts]
            out.append(replace(item, text=sealed[0], heading=tuple(sealed[1:])))  # type: ignore[type-var]
        return out
