"""Sessions end to end: `tether run --session` three times on the real embedded model, whose
own tokenizer counts the budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.events import MemorySummarized, ModelRequested, SessionContext
from tether.redact import Redactor
from tether.store import Store

AGENT = """\
name: chatty
instructions: You are a concise assistant. Answer in one sentence.
model: local:smollm2
limits: {max_output_tokens: 32}
working_memory: {max_prompt_tokens: 320, keep_recent_turns: 1}
"""
FIRST = (
    "Please remember this for later. My account number is ACC-4471-XZ and my name is Dana "
    "Whitfield. " + "The weather today was mild and the coffee was fine, nothing special. " * 16
)


@pytest.mark.model
def test_three_turns_of_a_session_on_the_local_model(tmp_path: Path) -> None:
    agent = tmp_path / "chatty.yaml"
    agent.write_text(AGENT, encoding="utf-8")
    env = os.environ | {"TETHER_HOME": str(tmp_path / "home"), "TETHER_WORKSPACE": str(tmp_path)}
    run_ids = []
    for goal in (FIRST, "Thanks. How are you?", "What is my account number?"):
        cmd = [sys.executable, "-m", "tether.cli", "run", "--agent", str(agent)]
        cmd += ["--session", "chat-1", "--json", goal]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
        assert out.returncode in (0, 1, 3), out.stderr
        run_ids.append(json.loads(out.stdout)["run_id"])
    with Store.open(f"sqlite:///{tmp_path / 'home' / 'tether.db'}", Redactor([])) as store:
        turns = store.sessions.turns("default", "chat-1")
        assert [t.run_id for t in turns] == run_ids and [t.turn for t in turns] == [1, 2, 3]
        journals = [store.journal.read(r) for r in run_ids]
    contexts = [e.payload for e in journals[2] if isinstance(e.payload, SessionContext)]
    assert contexts[0].previous_run == run_ids[1]
    summaries = [e.payload for j in journals for e in j if isinstance(e.payload, MemorySummarized)]
    assert summaries, "turn 1 alone is over the budget: turn 2 must summarize it"
    assert all(s.counter == "tokenizer:local:smollm2" for s in summaries)
    assert any("ACC-4471-XZ" in s.text for s in summaries)
    for journal in journals:
        for e in journal:
            if isinstance(e.payload, ModelRequested):
                assert e.payload.prompt_tokens is not None and e.payload.prompt_tokens <= 320
