"""Where the semantic store's full text and vectors live, per database.

``SemanticStore`` writes its chunk rows and fuses rankings; a backend adds the dialect's side:
SQLite (FTS5 + in-process vectors, :mod:`.sqlite`) or PostgreSQL (``tsvector`` + pgvector HNSW,
:mod:`.postgres`). :func:`make_backend` picks one for an engine.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tether.memory.ann import AnnSettings
from tether.memory.ann_files import default_index_dir
from tether.memory.backends.base import Backend, GenerationFn, conditions
from tether.memory.backends.postgres import PostgresBackend
from tether.memory.backends.sqlite import SqliteBackend


def make_backend(
    engine: sa.Engine,
    model: str,
    generation: GenerationFn,
    *,
    ann: AnnSettings | None = None,
    index_dir: Path | None = None,
) -> Backend:
    """The backend for ``engine``'s dialect. ``index_dir``: where HNSW indexes built in this
    process are saved (default: beside a SQLite file, ``<file>-ann/``; none in memory)."""
    settings = ann or AnnSettings()
    if engine.dialect.name == "postgresql":
        return PostgresBackend(engine, model, generation, settings=settings, index_dir=index_dir)
    if index_dir is None:
        index_dir = default_index_dir(engine)
    return SqliteBackend(engine, model, generation, settings=settings, index_dir=index_dir)


__all__ = ["Backend", "PostgresBackend", "SqliteBackend", "conditions", "make_backend"]
