"""A plan step that needs a person: the run pauses, and after the approval the next segment,
rebuilt from the journal, finishes the same plan (no re-plan, no repeated step)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.governance.test_approvals import RAN, delete_account, lookup, runtime
from tether import Agent
from tether.agent.spec import Limits
from tether.governance.approvals import Approvals
from tether.testing import ScriptedModel, answer
from tether.types import RunStatus

PLAN = {
    "steps": [
        {"tool": "lookup", "args": {"account": "a-17"}},
        {"tool": "delete_account", "args": {"account": "$s1.account"}},
    ],
    "answer": "closed $s1.account: $s2",
}


async def test_an_approved_plan_step_resumes_the_plan_in_a_new_segment(tmp_path: Path) -> None:
    RAN.clear()
    model = ScriptedModel(steps=[answer(json.dumps(PLAN))])
    rt = runtime(tmp_path, model)
    agent = Agent(
        name="closer",
        model="scripted",
        mode="plan",
        tools=[lookup, delete_account],
        limits=Limits(max_steps=8),
    )
    paused = await rt.run(agent, "close a-17")
    assert paused.status is RunStatus.PAUSED and RAN == []
    approvals = Approvals(rt, resume="here")
    (pending,) = approvals.list()
    assert pending.tool == "delete_account" and pending.arguments == {"account": "a-17"}
    approvals.approve(pending.id, "alice", reason="checked")
    done = await approvals.run_here(paused.run_id)
    model.assert_consumed()  # one plan, asked once
    assert done.status is RunStatus.SUCCEEDED, done.reason
    assert done.output == "closed a-17: deleted"
    assert RAN == ["delete a-17"]
    events = rt.store.journal.read(paused.run_id)
    kinds = [e.kind for e in events]
    assert kinds.count("plan_created") == 1 and "plan_revised" not in kinds
    assert [e.key.segment for e in events if e.kind == "plan_wave"] == [0, 0]
    verdicts = [(e.key.segment, e.payload.target) for e in events if e.kind == "critic_verdict"]
    assert verdicts == [(0, "s1"), (1, "s2"), (1, "goal")]
    rt.close()
