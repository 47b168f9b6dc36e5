"""Operator controls across processes: kill switches, pause/resume and steering.

Runs execute in separate `tether` processes (as in ``test_durable``); the operator's commands
run in others. Ordering is asserted on journal positions, never on time.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from tests.test_durable import AGENT, STEPS, Env, crash
from tether.agent.state import OPERATOR_MARK, prompt_at
from tether.redact import Redactor
from tether.store import Store
from tether.types import RunStatus


def _wait_for_effects(env: Env, count: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(env.lines("effects")) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(env.lines("effects")) >= count, "the run never reached its first tool call"


def _held(tmp_path: Path, **extra: str) -> Env:
    """An Env whose runs wait in their second model call until ``_release``: the operator's
    command lands while the run is in flight, however slow the machine."""
    return Env(
        tmp_path,
        TETHER_LEASE_S="5",
        TETHER_TEST_DELAY="0.2",
        TETHER_TEST_HOLD=str(tmp_path / "release"),
        **extra,
    )


def _release(env: Env) -> None:
    (env.tmp / "release").touch()


def _kinds(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["kind"]) for e in events]


def test_kill_stops_a_run_in_another_process_before_its_next_step(tmp_path: Path) -> None:
    env = _held(tmp_path, TETHER_TEST_STEPS="15")
    proc = env.spawn("run", "--agent", AGENT, "bump the counter")
    _wait_for_effects(env)
    run_id = str(env.only_run()["run_id"])
    out = env.tether("kill", "--reason", "incident 42", "--json")
    _release(env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["created"] and result["runs"] == [run_id]
    assert result["switch"]["scope"] == "global"
    assert proc.wait(timeout=60) == 4, env.output(proc)  # exit code of a killed run
    run = env.only_run()
    assert run["status"] == "killed"
    assert "global kill switch (incident 42)" in str(run["reason"])
    events = env.events(run_id)
    seqs = [int(e["seq"]) for e in events]
    assert seqs == sorted(seqs)
    kinds = _kinds(events)
    after = kinds[kinds.index("kill_switch") + 1 :]
    # only the step already in flight (its check passed before the switch) may complete;
    # no model step and no tool call starts after the kill is recorded
    assert after[-1] == "run_finished" and after.count("run_finished") == 1
    assert after.count("model_request") <= 1
    assert "tool_call_started" not in after
    assert len(env.lines("effects")) < 15
    # every model call that ran is in the journal: none ran after the kill unrecorded
    assert len(env.lines("calls")) == kinds.count("model_request")

    # a new run while the switch is set is killed before its first step
    calls_before = len(env.lines("calls"))
    refused = env.tether("run", "--agent", AGENT, "bump again", "--json")
    assert refused.returncode == 4, refused.stderr
    body = json.loads(refused.stdout)
    assert body["status"] == "killed" and body["steps"] == 0
    assert "global kill switch" in body["reason"] and "tether kill --lift" in body["reason"]
    assert len(env.lines("calls")) == calls_before

    listed = json.loads(env.tether("kill", "--json").stdout)
    assert [(s["scope"], s["reason"]) for s in listed] == [("global", "incident 42")]
    assert env.tether("kill", "--lift").returncode == 0
    assert json.loads(env.tether("kill", "--json").stdout) == []
    again = env.tether("kill", "--lift")
    assert again.returncode == 64 and "no active global kill switch" in again.stderr
    ok = env.tether("run", "--agent", AGENT, "bump after the lift", "--json")
    assert ok.returncode == 0, ok.stderr


def test_pause_ends_the_segment_and_resume_goes_on_with_the_instruction(tmp_path: Path) -> None:
    env = _held(tmp_path, TETHER_TEST_STEPS="12")
    proc = env.spawn("run", "--agent", AGENT, "bump the counter")
    _wait_for_effects(env)
    run_id = str(env.only_run()["run_id"])
    out = env.tether("runs", "pause", run_id, "--json")
    _release(env)
    assert out.returncode == 2, out.stderr  # paused
    assert proc.wait(timeout=60) == 2, env.output(proc)  # the process let go of the run
    assert env.only_run()["status"] == "paused"
    kinds = _kinds(env.events(run_id))
    assert "run_paused" in kinds and "run_finished" not in kinds
    done = len(env.lines("effects"))
    assert done < 12
    again = env.tether("runs", "pause", run_id)
    assert again.returncode == 64 and "already paused" in again.stderr

    steer = env.tether("runs", "steer", run_id, "count carefully")
    assert steer.returncode == 0, steer.stderr
    resumed = env.tether("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    assert env.lines("effects") == [str(n) for n in range(12)]  # each effect once
    events = env.events(run_id)
    kinds = _kinds(events)
    paused_at, resumed_at = kinds.index("run_paused"), kinds.index("run_resumed")
    assert paused_at < resumed_at < kinds.index("operator_steered")
    assert {e["segment"] for e in events[resumed_at + 1 :]} == {1}
    steered = next(e for e in events if e["kind"] == "operator_steered")
    assert steered["payload"]["text"] == "count carefully"
    # the next request the model got carries the instruction, marked as an operator's
    request = next(
        e for e in events[kinds.index("operator_steered") :] if e["kind"] == "model_request"
    )
    operator = [m for m in request["payload"]["messages"] if m.get("origin") == "operator"]
    assert operator == [
        {"role": "user", "origin": "operator", "content": f"{OPERATOR_MARK} count carefully"}
    ]


def test_an_instruction_survives_a_crash_and_is_seen_once(tmp_path: Path) -> None:
    env = Env(tmp_path, TETHER_TEST_DELAY="0.5", TETHER_TEST_STEPS="8", TETHER_TEST_KILL="model:6")
    proc = env.spawn("run", "--agent", AGENT, "bump the counter")
    _wait_for_effects(env)
    run_id = str(env.only_run()["run_id"])
    assert env.tether("runs", "steer", run_id, "be brief").returncode == 0
    assert proc.wait(timeout=60) == -signal.SIGKILL, env.output(proc)
    time.sleep(2.0)  # the dead process's lease expires
    out = env.tether("runs", "resume", run_id)
    assert out.returncode == 0, out.stderr[-2000:]
    store = Store.open(f"sqlite:///{tmp_path / 'home' / 'tether.db'}", Redactor())
    try:
        events = store.journal.read(run_id)
    finally:
        store.close()
    assert [e.kind for e in events].count("operator_steered") == 1
    last = max(e.key.step for e in events if e.kind == "model_request")
    prompt = prompt_at(events, last)
    shown = [m for m in prompt if m.get("origin") == "operator"]
    assert [m["content"] for m in shown] == [f"{OPERATOR_MARK} be brief"]


def test_a_paused_run_can_be_cancelled(tmp_path: Path) -> None:
    env = _held(tmp_path, TETHER_TEST_STEPS="12")
    proc = env.spawn("run", "--agent", AGENT, "bump the counter")
    _wait_for_effects(env)
    run_id = str(env.only_run()["run_id"])
    paused = env.tether("runs", "pause", run_id)
    _release(env)
    assert paused.returncode == 2, paused.stderr
    assert proc.wait(timeout=60) == 2, env.output(proc)
    out = env.tether("runs", "cancel", run_id)
    assert out.returncode == 4, out.stderr
    assert env.only_run()["status"] == "cancelled"
    assert _kinds(env.events(run_id))[-1] == "run_finished"


def test_resume_withdraws_a_pause_the_dead_process_never_took(tmp_path: Path) -> None:
    env = Env(tmp_path)
    run_id = crash(env, "model:1")  # the process dies with the run open
    store = Store.open(f"sqlite:///{tmp_path / 'home' / 'tether.db'}", Redactor())
    try:  # a pause was asked for, but the process died before its next step
        assert store.controls.request_status(run_id, RunStatus.PAUSED, when=(RunStatus.RUNNING,))
    finally:
        store.close()
    time.sleep(2.0)  # its lease expires
    out = env.tether("runs", "resume", run_id, "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["status"] == "succeeded"
    kinds = _kinds(env.events(run_id))
    assert "run_paused" not in kinds and kinds[-1] == "run_finished"
    assert env.lines("effects") == [str(n) for n in range(STEPS)]
