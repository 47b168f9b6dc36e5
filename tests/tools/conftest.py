"""Fixtures for the tool layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.tools import ToolContext


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return ToolContext(
        run_id="run-1", idempotency_key="run-1:call-1", workspace=workspace, call_id="call-1"
    )
