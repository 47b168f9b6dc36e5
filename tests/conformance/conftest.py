"""The storage conformance suite: every test here runs on SQLite and on PostgreSQL.

A store's tests take the ``store`` fixture (or ``db_url`` for a database with no schema yet)
and so run once per backend: a real SQLite file, and a fresh database on a real PostgreSQL 18
with pgvector (``pg_server`` in tests/conftest.py). A store that arrives later (approvals,
budgets, memory) adds its module here and gets both backends for free.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.store.helpers import SECRET
from tether.redact import Redactor
from tether.store import Store, make_engine

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'tether.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([SECRET])


@pytest.fixture
def store(db_url: str, redactor: Redactor) -> Iterator[Store]:
    with Store.open(db_url, redactor) as opened:
        yield opened


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the empty database, no migrations applied."""
    made = make_engine(db_url)
    yield made
    made.dispose()
