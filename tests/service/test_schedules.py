"""A cron schedule fires once per period with two workers running (real processes, a
two-second period); each firing is one run, journaled with its schedule and time."""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.governance.test_approvals_durable import stop
from tests.test_durable import Env
from tether.agent.spec import load_agent
from tether.errors import AgentSpecError

TICKER = """name: ticker
instructions: Say tick.
model: python:tests.durable_models:model
schedule: {cron: "*/2 * * * * *", goal: "tick", tenant: acme}
"""


def scheduled(db: Path) -> list[tuple[str, str, str]]:
    """(run id, status, run_started payload) of the scheduled runs so far."""
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'tether_events'").fetchone():
            return []
        rows = conn.execute(
            "SELECT r.id, r.status, e.payload FROM tether_runs r JOIN tether_events e "
            "ON e.run_id = r.id AND e.kind = 'run_started' WHERE r.tenant = 'acme'"
        ).fetchall()
    finally:
        conn.close()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_a_schedule_fires_once_per_period_with_two_workers(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "ticker.yaml").write_text(TICKER)
    env = Env(tmp_path, TETHER_TEST_STEPS="0")
    workers = [env.spawn("worker", "--executor-id", f"w{i}") for i in (1, 2)]
    try:
        deadline = time.monotonic() + 60
        while len(scheduled(tmp_path / "home" / "tether.db")) < 4:
            assert time.monotonic() < deadline, [env.output(w) for w in workers]
            assert all(w.poll() is None for w in workers), [env.output(w) for w in workers]
            time.sleep(0.5)
    finally:
        for w in workers:
            stop(env, w)
    assert all("schedule tether:ticker registered" in env.output(w) for w in workers)
    rows = scheduled(tmp_path / "home" / "tether.db")
    times = sorted(json.loads(p)["origin"]["scheduled_at"] for _, _, p in rows)
    assert len(times) == len(set(times)) >= 4  # one run per scheduled time, never two
    stamps = [time.mktime(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) for t in times]
    assert all(b - a >= 2 for a, b in itertools.pairwise(stamps))
    conn = sqlite3.connect(tmp_path / "home" / "tether.db")
    try:
        (fired,) = conn.execute(
            "SELECT count(*) FROM workflow_status "
            "WHERE workflow_uuid LIKE 'sched-tether:ticker-%' AND status = 'SUCCESS'"
        ).fetchone()
    finally:
        conn.close()
    assert fired == len(rows)  # each firing that ran created exactly one run
    assert all(status in ("succeeded", "queued", "running") for _, status, _ in rows)
    assert sum(status == "succeeded" for _, status, _ in rows) >= 3


def test_a_bad_cron_expression_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(TICKER.replace("*/2 * * * * *", "every monday"))
    with pytest.raises(AgentSpecError, match=r"schedule\.cron.*not a cron expression"):
        load_agent(tmp_path / "bad.yaml")
