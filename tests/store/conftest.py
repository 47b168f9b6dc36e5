"""Fixtures for the store tests: a real SQLite file per test, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.helpers import SECRET
from tether.redact import Redactor
from tether.store import Store


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([SECRET])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "tether.db"


@pytest.fixture
def store(db_path: Path, redactor: Redactor) -> Iterator[Store]:
    with Store.open(f"sqlite:///{db_path}", redactor) as opened:
        yield opened
