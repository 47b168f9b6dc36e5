"""docs/runbook.md, "Roll back an agent version", followed as written.

A project whose agent `booker` had version 1 promoted, then version 2 (the one in its file, the
bad one); the section's console blocks are typed in order through bash, with `tether` on PATH,
and each command's output must match what the document shows (white space runs made one space;
`…` is any text within a line, a line of `…` alone any number of lines).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.versions.helpers import agent_yaml, env, tether_json

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
TITLE = "Roll back an agent version"
FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```", re.M | re.S)
ANY = "…"


def console_steps(title: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of each ``$`` line in the section's console blocks."""
    parts = re.split(r"^## ", RUNBOOK.read_text(), flags=re.M)
    (body,) = [p for p in parts[1:] if p.split("\n", 1)[0].strip() == title]
    steps: list[tuple[str, list[str]]] = []
    for match in FENCE.finditer(body):
        assert match.group(2) == "console", f"a {match.group(2)!r} block in {title!r}"
        indent = len(match.group(1))
        for line in match.group(3).splitlines():
            line = line[indent:]
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


def matches(expect: list[str], output: str) -> bool:
    pattern = ""
    for line in expect:
        norm = " ".join(line.split())
        if norm == ANY:
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += ".*?".join(re.escape(p) for p in norm.split(ANY)) + r"\n"
    actual = "".join(" ".join(x.split()) + "\n" for x in output.splitlines() if x.strip())
    return re.fullmatch(pattern, actual) is not None


def test_runbook_rollback_steps(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "v1.yaml").write_text(agent_yaml("good", evals=False).replace("support", "booker"))
    (tmp_path / "agents" / "booker.yaml").write_text(
        agent_yaml("bad", evals=False).replace("support", "booker")
    )
    v1 = tether_json(tmp_path, "agents", "promote", "booker", "--file", "v1.yaml", "--skip-evals")
    v2 = tether_json(tmp_path, "agents", "promote", "booker", "--skip-evals")
    good, bad = v1["candidate_version"], v2["candidate_version"]
    before = tether_json(tmp_path, "run", "What is the answer?", "--agent", "booker")

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tether"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m tether.cli "$@"\n')
    shim.chmod(0o755)
    shell_env = env(tmp_path) | {"PATH": f"{bin_dir}:{env(tmp_path)['PATH']}", "COLUMNS": "200"}
    outputs = []
    steps = console_steps(TITLE)
    assert [c.split()[:3] for c, _ in steps] == [
        ["tether", "agents", "show"],
        ["tether", "agents", "rollback"],
        ["tether", "run", '"What'],
        ["tether", "agents", "show"],
    ]
    for command, expect in steps:
        out = subprocess.run(
            ["bash", "-c", command],
            capture_output=True,
            text=True,
            env=shell_env,
            cwd=tmp_path,
            timeout=180,
            check=False,
        )
        assert out.returncode == 0, (command, out.stdout, out.stderr)
        assert matches(expect, out.stdout + out.stderr), (command, expect, out.stdout)
        outputs.append(out.stdout)

    assert f"{bad} (current)" in outputs[0]
    assert f"rolled back 'booker': {bad} -> {good} (current)" in outputs[1]
    assert f"agent booker version {good} " in " ".join(outputs[2].split())
    runs = {r["run_id"]: r["agent_version"] for r in tether_json(tmp_path, "runs", "list")}
    assert runs[before["run_id"]] == bad and sorted(runs.values()) == sorted([bad, good])
    shown = tether_json(tmp_path, "agents", "show", "booker")
    assert shown["current_version"] == good
    last = shown["history"][0]
    assert (last["action"], last["version"], last["from_version"]) == ("rollback", good, bad)
    assert last["actor"].startswith("cli")
