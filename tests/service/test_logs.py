"""JSON log lines: each line inside a run's steps names the run, and secrets are redacted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tether import Agent, Runtime, tool
from tether.observability import logs
from tether.settings import Settings
from tether.testing import ScriptedModel, answer, call

log = logging.getLogger("tests.tool")
SECRET = "sk-live-abcdefghijklmnopqrstuvwx"


@tool
def noisy(n: int) -> int:
    """Log a line, then return n.

    Args:
        n: any integer
    """
    log.warning("working on %s with key %s", n, SECRET)
    return n


def test_log_lines_name_their_run_and_hide_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = Runtime(
        settings=Settings(home=tmp_path / "home", secrets={"API": SECRET}),
        models={"scripted": ScriptedModel(steps=[call("noisy", n=7), answer("7")])},
    )
    root = logging.getLogger()
    before = list(root.handlers), root.level
    logs.configure("json", rt.redactor)
    try:
        result = rt.run_sync(Agent(name="a", model="scripted", tools=[noisy]), "go")
        log.warning("outside any run")
    finally:
        for h in list(root.handlers):
            if getattr(h, "_tether", False):
                root.removeHandler(h)
        root.setLevel(before[1])
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    inside = [x for x in lines if "working on 7" in x["message"]]
    assert len(inside) == 1 and inside[0]["run_id"] == result.run_id
    assert SECRET not in json.dumps(lines) and "[REDACTED" in inside[0]["message"]
    outside = [x for x in lines if x["message"] == "outside any run"]
    assert outside[0]["run_id"] is None and outside[0]["level"] == "warning"
