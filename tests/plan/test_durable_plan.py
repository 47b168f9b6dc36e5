"""Plan mode under DBOS in real processes: SIGKILL inside a plan's write step, then resume.

The resumed run rebuilds the plan from the journal: the planner is not asked again, the reads
that finished are not repeated, the write happens once, and no event is journaled twice.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.test_durable import Env

ROOT = Path(__file__).resolve().parents[2]
AGENT = str(ROOT / "tests" / "plan" / "durable_plan.yaml")


def test_a_plan_killed_mid_wave_resumes_from_its_journal(tmp_path: Path) -> None:
    env = Env(tmp_path)
    out = env.tether("run", "--agent", AGENT, "store x and y", TETHER_TEST_KILL="store")
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr[-2000:])
    run_id = str(env.only_run()["run_id"])
    time.sleep(2.0)  # the dead executor's 1.5 s lease runs out
    resumed = env.tether("runs", "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert env.only_run()["status"] == "succeeded"
    assert sorted(env.lines("calls")) == ["fetch_a x", "fetch_b y", "model"]
    (effect,) = env.lines("effects")
    assert effect.endswith(" X+yy")
    events = env.events(run_id)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    kinds = [e["kind"] for e in events]
    assert kinds.count("plan_created") == 1 and kinds.count("plan_wave") == 2
    verdicts = [e["payload"]["target"] for e in events if e["kind"] == "critic_verdict"]
    assert verdicts == ["a", "b", "c", "goal"]
    finished = next(e for e in events if e["kind"] == "run_finished")
    assert finished["payload"]["output"] == "stored X+yy"
