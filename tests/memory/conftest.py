"""Memory fixtures: one real local embedder (the all-MiniLM-L6-v2 wheel) for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tether.memory import LocalEmbedder, SemanticStore
from tether.store import make_engine, migrate
from tether.testing import FakeClock


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'memory.db'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(engine: sa.Engine, embedder: LocalEmbedder, clock: FakeClock) -> SemanticStore:
    return SemanticStore(engine, embedder, clock=clock)
