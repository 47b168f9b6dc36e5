"""`tether runs compensate`: completed writes are undone newest first, each undo journaled;
a write that cannot be undone is reported, not skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.agent_helpers import make_runtime, scripted
from tether import Agent, ToolContext, tool
from tether.testing import answer, call

LEDGER = "TETHER_TEST_LEDGER"


def _ledger(line: str) -> None:
    with Path(os.environ[LEDGER]).open("a") as f:
        f.write(line + "\n")


def _unbook(ctx: ToolContext, arguments: dict[str, Any], result: Any) -> dict[str, str]:
    _ledger(f"cancel {arguments['seat']}")
    return {"cancelled": arguments["seat"]}


@tool(side_effect="write", compensate=_unbook)
def book(seat: str) -> dict[str, str]:
    """Book a seat.

    Args:
        seat: the seat to book
    """
    _ledger(f"book {seat}")
    return {"booked": seat}


@tool(side_effect="write")
def announce(text: str) -> str:
    """Announce something (cannot be taken back).

    Args:
        text: what to announce
    """
    _ledger(f"announce {text}")
    return "announced"


def test_compensation_undoes_writes_in_reverse_and_reports_the_rest(
    tmp_path: Path, monkeypatch: Any
) -> None:
    ledger = tmp_path / "ledger"
    monkeypatch.setenv(LEDGER, str(ledger))
    model = scripted(
        call("book", seat="1A"),
        call("book", seat="1B"),
        call("announce", text="hi"),
        call("book", seat="1C"),
        answer("booked"),
    )
    rt = make_runtime(tmp_path, model)
    agent = Agent(name="booker", model="scripted", tools=[book, announce, "calculator"])
    result = rt.run_sync(agent, "book seats 1A, 1B and 1C; announce hi")
    rt.close()
    assert result.status.value == "succeeded"
    env = os.environ | {
        "TETHER_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.getcwd(),
        LEDGER: str(ledger),
    }

    def compensate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tether.cli", "runs", "compensate", result.run_id, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )

    out = compensate()
    assert out.returncode == 1, out.stderr  # one write could not be undone
    report = json.loads(out.stdout)
    assert [(r["tool"], r["ok"]) for r in report] == [
        ("book", True),
        ("announce", False),
        ("book", True),
        ("book", True),
    ]
    assert "no compensate action" in report[1]["detail"]
    assert ledger.read_text().splitlines()[-3:] == ["cancel 1C", "cancel 1B", "cancel 1A"]
    events = subprocess.run(
        [sys.executable, "-m", "tether.cli", "runs", "events", result.run_id, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    undos = [e["payload"] for e in json.loads(events.stdout) if e["kind"] == "tool_compensated"]
    assert [(u["tool"], u["ok"]) for u in undos] == [
        ("book", True),
        ("announce", False),
        ("book", True),
        ("book", True),
    ]
    # a second run of the command undoes nothing twice
    again = compensate()
    assert [r["tool"] for r in json.loads(again.stdout)] == ["announce"]
    assert ledger.read_text().count("cancel") == 3
