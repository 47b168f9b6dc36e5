"""Fixtures for the tool layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.http_server import PetServer, pet_server
from tether.tools import ToolContext


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return ToolContext(
        run_id="run-1", idempotency_key="run-1:call-1", workspace=workspace, call_id="call-1"
    )


@pytest.fixture
def pets() -> Iterator[PetServer]:
    with pet_server() as server:
        yield server
