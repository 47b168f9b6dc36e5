"""`tether run --stream` against a real OpenAI-compatible server (llama_cpp.server) on 127.0.0.1:
text arrives as it is generated and the streamed call's tokens are counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.llama_server import llama_server_fixture  # noqa: F401  (fixture)


def test_cli_streams_and_counts_usage(tmp_path: Path, llama_server: str) -> None:
    env = os.environ | {"TETHER_HOME": str(tmp_path / "home")}
    model = f"openai:{llama_server}#smollm2"
    agent = tmp_path / "talker.yaml"
    agent.write_text("name: talker\ninstructions: Answer briefly.\ntools: []\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether.cli",
            "run",
            "Say hello in five words.",
            "--agent",
            str(agent),
            "--model",
            model,
            "--stream",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "tether.cli", "runs", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    (run,) = json.loads(listed.stdout)
    events = subprocess.run(
        [sys.executable, "-m", "tether.cli", "runs", "events", run["run_id"], "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    responses = [e["payload"] for e in json.loads(events.stdout) if e["kind"] == "model_response"]
    assert responses and all(r["output_tokens"] > 0 for r in responses if not r["error"])
    assert run["usage"]["input_tokens"] > 0
    answer = responses[-1]["text"]
    assert answer and out.stdout.startswith(answer)  # streamed first, then the summary
