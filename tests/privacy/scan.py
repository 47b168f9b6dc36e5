"""Scanning stored bytes for planted values: in clear, base64-encoded, or as sealed tokens."""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import sqlalchemy as sa

from tether.privacy.seal import TOKEN_RE

_B64 = re.compile(r"[A-Za-z0-9+/=_-]{16,}")


def forms(value: str) -> list[bytes]:
    """The bytes a planted value may be stored as: UTF-8, and base64 (standard, URL-safe) of it
    at each of the three alignments a longer encoded text can put it in."""
    raw = value.encode()
    out = [raw]
    for shift in range(3):
        # the groups of 4 characters that only the value's bytes determine at this alignment
        end = 4 * ((len(raw) + shift) // 3)
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            out.append(encode(b"\0" * shift + raw)[4 if shift else 0 : end])
    return [f for f in out if len(f) >= 8]


def decodings(text: str) -> list[bytes]:
    """``text`` and every base64 run in it, decoded (DBOS stores pickles in base64)."""
    out = [text.encode()]
    for token in _B64.findall(text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                out.append(decode(token + "=" * (-len(token) % 4)))
            except (binascii.Error, ValueError):
                pass
    return out


def sqlite_values(db: Path) -> Iterator[tuple[str, str]]:
    """(table, value as text) for every value of every table, FTS5 shadow tables and DBOS's
    included."""
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in names:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    yield table, _text(value)
    finally:
        conn.close()


def pg_values(
    engine: sa.Engine, schemas: Iterable[str] = ("public", "dbos")
) -> Iterator[tuple[str, str]]:
    with engine.connect() as conn:
        for schema in schemas:
            for table in sa.inspect(conn).get_table_names(schema=schema):
                for row in conn.execute(sa.text(f'SELECT * FROM "{schema}"."{table}"')):
                    for value in row:
                        yield f"{schema}.{table}", _text(value)


def _text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def leaks(values: Iterable[tuple[str, str]], planted: Iterable[str]) -> list[tuple[str, str]]:
    """(table, planted value) for each planted value found in clear or base64-decoded."""
    wanted = [(p, forms(p)) for p in planted]
    found: list[tuple[str, str]] = []
    for table, text in values:
        for blob in decodings(text):
            for value, shapes in wanted:
                if any(shape in blob for shape in shapes):
                    found.append((table, value))
    return found


def raw_leaks(raw: bytes, planted: Iterable[str]) -> list[str]:
    return [p for p in planted if any(shape in raw for shape in forms(p))]


def tokens(text: str) -> list[str]:
    return [m.group(0) for m in TOKEN_RE.finditer(text)]
