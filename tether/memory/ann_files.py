"""Where HNSW indexes are saved, and dropping the files that hold a forgotten subject's vectors.

A tenant's index for one embedding model is saved as ``<folder>/<hash>.usearch`` (the hash of
tenant and model, so file names name nobody). The folder defaults to ``<sqlite file>-ann/``
beside a SQLite database; PostgreSQL and in-memory databases save none unless given one.

usearch's ``remove`` only marks a node deleted: its vector's bytes stay in the graph and in any
file saved from it (checked in tests/privacy/test_ann_forget.py). So :class:`AnnIndex` rebuilds
before saving when it has removed keys, and ``forget`` deletes the saved files of the subject's
tenant and models (:func:`drop_indexes`): the next search rebuilds the index from live rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

SUFFIX = ".usearch"


def default_index_dir(engine: sa.Engine) -> Path | None:
    """``<file>-ann/`` beside a SQLite database file; None otherwise."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(f"{database}-ann")


def index_path(folder: Path, tenant: str, model: str) -> Path:
    """The file of ``tenant``'s index of ``model``'s vectors under ``folder``."""
    name = hashlib.sha256(f"{tenant}\x1f{model}".encode()).hexdigest()[:32]
    return folder / f"{name}{SUFFIX}"


def drop_indexes(folder: Path | None, tenant: str, models: Iterable[str]) -> list[Path]:
    """Delete the saved indexes of ``tenant`` for ``models`` (and their half-written temporary
    files); returns the paths deleted."""
    if folder is None or not folder.is_dir():
        return []
    dropped: list[Path] = []
    for model in sorted(set(models)):
        path = index_path(folder, tenant, model)
        for found in [path, *folder.glob(f"{path.name}.*.tmp")]:
            if found.is_file():
                found.unlink(missing_ok=True)
                dropped.append(found)
    return dropped
