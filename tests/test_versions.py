"""Agent and tether versions per run: recorded at start, compared when a run is rebuilt."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.agent_helpers import agent, make_runtime, scripted
from tether.events import RunStarted
from tether.runtime import tether_version, version_drift
from tether.testing import answer


def _started(**changes: str) -> RunStarted:
    values = {
        "goal": "g",
        "agent": "a",
        "agent_version": "v1",
        "model": "m",
        "tools": [],
        "limits": {},
        "tether_version": "0.1.0",
    }
    return RunStarted(**(values | changes))  # type: ignore[arg-type]


def test_version_drift_names_what_changed() -> None:
    assert version_drift("r", _started(), "v1", "0.1.0") is None
    message = version_drift("r", _started(), "v2", "0.2.0")
    assert message is not None
    assert "agent version v1 -> v2" in message and "tether 0.1.0 -> 0.2.0" in message
    assert "docs/deploy.md" in message
    assert version_drift("r", _started(agent_version=""), "v9", "0.1.0") is None


async def test_run_records_versions_and_a_changed_agent_warns_on_rebuild(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime(tmp_path, scripted(answer("hi")))
    try:
        spec = agent()
        result = await rt.run(spec, "say hi")
        record = rt.store.runs.get(result.run_id)
        assert record.agent_version == spec.version and len(record.agent_version) == 16
        assert record.tether_version == tether_version()
        with caplog.at_level(logging.WARNING, logger="tether.runtime"):
            rt.rebuild(result.run_id, 1, need_model=False)
        assert not [r for r in caplog.records if "different version" in r.message]
        with rt.store.engine.begin() as conn:  # as if the run had started on an older agent
            conn.execute(
                sa.text(
                    "UPDATE tether_events SET payload = replace(payload, :new, 'oldversion')"
                    " WHERE kind = 'run_started'"
                ),
                {"new": spec.version},
            )
        with caplog.at_level(logging.WARNING, logger="tether.runtime"):
            rt.rebuild(result.run_id, 1, need_model=False)
        warned = [r.message for r in caplog.records if "different version" in r.message]
        assert warned and f"oldversion -> {spec.version}" in warned[0]
    finally:
        rt.close()
