"""A durable step's journal events commit in DBOS's transaction that records the step.

Each durable run executes in a child process (DBOS is a process-wide singleton) that traces every
SQLite commit by the tables it wrote (bench/commits.py). The crash side (a SIGKILL inside that
transaction) is in tests/test_durable.py (``commit:K``, ``toolcommit:K``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.agent_helpers import agent, make_runtime, scripted
from tether.agent.context import Deferred, deferring
from tether.events import OperatorSteered
from tether.testing import answer

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import asyncio, json, sys
from pathlib import Path
from bench.commits import CommitCounter
from tether import Agent, Limits, Runtime, tool
from tether.settings import Settings
from tether.testing import ScriptedModel, answer, call

@tool
def echo(n: int) -> dict[str, int]:
    '''Return the number it is given.

    Args:
        n: any integer
    '''
    return {"n": n}

@tool(side_effect="write", idempotent=True, sink=False)
def note(n: int) -> dict[str, int]:
    '''Write the number down.

    Args:
        n: any integer
    '''
    return {"n": n}

steps, name = int(sys.argv[1]), sys.argv[2]
counter = CommitCounter()
counter.install()
model = ScriptedModel(steps=[*(call(name, n=i) for i in range(steps)), answer("done")])
agent = Agent(name="fold", model="scripted", tools=[echo, note], limits=Limits(max_steps=99))
rt = Runtime(settings=Settings(home=Path(sys.argv[3])), models={"scripted": model}, durable=True)
result = asyncio.run(rt.run(agent, "go"))
kinds = [e.kind for e in rt.store.journal.read(result.run_id)]
rt.close()
print(json.dumps({"status": result.status.value, "kinds": kinds, "commits": counter.commits}))
"""


def traced(tmp: Path, steps: int, tool: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(steps), tool, str(tmp / f"{tool}{steps}")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["status"] == "succeeded", found
    return found


def per_step(tmp: Path, tool: str) -> dict[str, float]:
    """Commits per agent step by kind: the difference between runs of 6 and 2 steps."""
    short, long = traced(tmp, 2, tool), traced(tmp, 6, tool)
    a, b = dict(short["commits"]), dict(long["commits"])  # type: ignore[call-overload]
    assert dict(long)["kinds"].count("tool_call_finished") == 6  # type: ignore[attr-defined]
    kinds = ("journal+dbos_step", "journal", "dbos_step")
    return {k: (b.get(k, 0) - a.get(k, 0)) / 4 for k in kinds}


def test_a_read_step_is_one_commit_with_its_dbos_record(tmp_path: Path) -> None:
    # the model step and the read tool step: each one transaction, journal and DBOS together
    counts = per_step(tmp_path, "echo")
    assert counts == {"journal+dbos_step": 2.0, "journal": 0.0, "dbos_step": 0.0}


def test_a_write_steps_intent_commits_before_the_call(tmp_path: Path) -> None:
    # a side effect's intent commits on its own before the call; its outcome with the record
    counts = per_step(tmp_path, "note")
    assert counts == {"journal+dbos_step": 2.0, "journal": 1.0, "dbos_step": 0.0}


async def test_staged_events_commit_only_with_a_commit_and_keep_their_order(
    tmp_path: Path,
) -> None:
    rt = make_runtime(tmp_path, scripted(answer("ok")))
    try:
        ctx = await rt.start(agent(), "go")
        ctx.check_journal = True
        first, second = ctx.key(0, "operator_steered", 0), ctx.key(0, "operator_steered", 1)
        deferred = Deferred()
        with deferring(deferred):
            await ctx.record_many([(first, OperatorSteered(message_id=1, text="one"))])
            assert rt.store.journal.get(first.id) is None  # staged, not committed
            assert await ctx.journaled(first) is not None  # but the step sees it
            assert first.id in ctx.applied
            # a commit (a side effect's intent) takes the staged events first, in order
            await ctx.record_many(
                [(second, OperatorSteered(message_id=2, text="two"))], commit=True
            )
        assert deferred.batches == []
        kinds = [(e.kind, e.key.index) for e in rt.store.journal.read(ctx.run_id)]
        assert kinds[-2:] == [("operator_steered", 0), ("operator_steered", 1)]
        # outside the block, events commit at once
        third = ctx.key(0, "operator_steered", 2)
        await ctx.record_many([(third, OperatorSteered(message_id=3, text="three"))])
        assert rt.store.journal.get(third.id) is not None
    finally:
        rt.close()
