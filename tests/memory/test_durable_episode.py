"""A durable run with episodic memory, killed with SIGKILL before its last model call and
finished by a worker (a process that rebuilds the run): exactly one episode, written by the
rebuilt run's finish step, with every action of both processes."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.test_durable import AGENT, STEPS, Env


def test_a_crashed_durable_run_leaves_one_episode(tmp_path: Path) -> None:
    agent = tmp_path / "bumper.yaml"
    agent.write_text(
        Path(AGENT).read_text() + "memory:\n  episodic: {record: true, recall: false}\n"
    )
    env = Env(tmp_path, TETHER_EXECUTOR_ID="exec-mem")
    out = env.tether("run", "--agent", str(agent), "bump the counter", TETHER_TEST_KILL="model:4")
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    run_id = str(env.only_run()["run_id"])
    worker = env.spawn("worker", "--executor-id", "exec-mem", "--grace", "5")
    try:
        assert env.wait_status(run_id, timeout=120) == "succeeded"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, env.output(worker)
    listed = env.tether("memory", "episodes", "--json")
    assert listed.returncode == 0, listed.stderr
    [episode] = json.loads(listed.stdout)
    assert episode["run_id"] == run_id and episode["outcome"] == "success"
    assert [a["tool"] for a in episode["actions"]] == ["bump"] * STEPS
    assert [a["arguments"] for a in episode["actions"]] == [{"n": n} for n in range(STEPS)]
    written = [e for e in env.events(run_id) if e["kind"] == "memory_written"]
    assert len(written) == 1
    assert written[0]["payload"]["item_ids"] == [episode["id"]]  # type: ignore[index]
