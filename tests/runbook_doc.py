"""Reading docs/runbook.md as a script: its sections, their blocks, and running them.

A section is the text under a ``## `` heading. Its fenced blocks are, in order:

- ``sh``: commands (one a line; a line ending in ``\\`` goes on; ``#`` lines are comments);
  a command ending in `` &`` starts in the background, as in a shell.
- ``console``: ``$ `` lines are commands, the lines under one are what it prints. Output is
  compared line by line with runs of white space made one space; ``…`` is any text within a
  line, and a line of ``…`` alone any number of lines.
- ``text``: lines a process prints to its log (checked with the same rules).

Placeholders are the capitalised words in :data:`PLACEHOLDERS`. In an expected output, an
unbound one matches one word and binds it; everywhere else a bound one is replaced by its
value, and an unbound one in a command fails the test (the document uses a value before saying
where it comes from). A capitalised ``*_ID``/``*_KEY``/``*_PID`` word that is not a known
placeholder fails too, so a new placeholder in the document needs this module to know it.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.procs import SPAWNED

RUNBOOK = Path(__file__).resolve().parent.parent / "docs" / "runbook.md"
PLACEHOLDERS = ("NEW_KEY_ID", "NEW_API_KEY", "RUN_ID", "KEY_ID", "API_KEY", "WORKER_PID")
CAPITALS = re.compile(r"(?<![\w$])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_(?:ID|KEY|PID)(?!\w)")
FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```", re.M | re.S)
ANY = "…"


@dataclass(frozen=True)
class Block:
    lang: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One command of a block, with the output a console block expects (None: not checked)."""

    command: str
    expect: tuple[str, ...] | None


def section(title: str) -> list[Block]:
    """The fenced blocks of the ``## title`` section, in order (indented ones dedented)."""
    text = RUNBOOK.read_text()
    parts = re.split(r"^## ", text, flags=re.M)
    (body,) = [p for p in parts[1:] if p.split("\n", 1)[0].strip() == title]
    blocks = []
    for match in FENCE.finditer(body):
        indent = len(match.group(1))
        lines = tuple(line[indent:] for line in match.group(3).splitlines())
        blocks.append(Block(match.group(2), lines))
    return blocks


def section_titles() -> list[str]:
    return re.findall(r"^## (.+)$", RUNBOOK.read_text(), flags=re.M)


def steps(block: Block) -> list[Step]:
    if block.lang == "sh":
        return [Step(c, None) for c in _sh_commands(block.lines)]
    assert block.lang == "console", f"no steps in a {block.lang!r} block"
    out: list[Step] = []
    command: str | None = None
    expect: list[str] = []
    for line in block.lines:
        if line.startswith("$ "):
            if command is not None:
                out.append(Step(command, tuple(expect)))
            command, expect = line[2:], []
        else:
            assert command is not None, f"console block starts with output: {line!r}"
            expect.append(line)
    if command is not None:
        out.append(Step(command, tuple(expect)))
    return out


def _sh_commands(lines: tuple[str, ...]) -> list[str]:
    commands, pending = [], ""
    for line in lines:
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append(pending + line)
        pending = ""
    return commands


def _normal(line: str) -> str:
    return " ".join(line.split())


@dataclass
class Operator:
    """Types the runbook's commands in ``cwd`` with ``env``, keeping the values it read."""

    cwd: Path
    env: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)  # pid -> output of a spawned command

    def fill(self, command: str) -> str:
        for word in CAPITALS.findall(command):
            assert word in PLACEHOLDERS, f"unknown placeholder {word!r} in {command!r}"
            assert word in self.values, f"{word} is used before the runbook says where it is"
        for name in PLACEHOLDERS:  # longest first: NEW_KEY_ID before KEY_ID
            if name in self.values:
                command = re.sub(rf"(?<![\w$]){name}(?!\w)", self.values[name], command)
        return command

    def run(self, step: Step, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run one step; a console step's output must match what the runbook shows."""
        command = self.fill(step.command)
        assert not command.endswith("&"), "start background commands with spawn()"
        out = subprocess.run(
            ["bash", "-c", "set -o pipefail; " + command],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=timeout,
            check=False,
        )
        self.log.append(f"$ {command}\n{out.stdout}{out.stderr}[exit {out.returncode}]")
        if step.expect is not None:
            self.match(step.expect, out.stdout + out.stderr, where=command)
        return out

    def spawn(self, step: Step, **extra: str) -> subprocess.Popen[bytes]:
        """Start a command that ends in ``&``; its output goes to a log file next to cwd."""
        command = self.fill(step.command)
        assert command.endswith("&"), f"{command!r} does not run in the background"
        log = self.cwd.parent / f"spawned-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["bash", "-c", "exec " + command[:-1].strip()],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env | extra,
                cwd=self.cwd,
            )
        SPAWNED.append(proc)
        self.logs[proc.pid] = log
        return proc

    def match(self, expect: tuple[str, ...], output: str, *, where: str) -> None:
        """``output`` must be ``expect`` (see the module docstring); binds new placeholders."""
        bound: set[str] = set()
        pattern = ""
        for line in expect:
            if _normal(line) == ANY:
                pattern += r"(?:[^\n]*\n)*?"
                continue
            pattern += self._line_pattern(_normal(line), bound) + r"\n"
        actual = "".join(_normal(line) + "\n" for line in output.splitlines() if line.strip())
        found = re.fullmatch(pattern, actual)
        assert found, f"the runbook shows\n{chr(10).join(expect)}\nfor {where!r}; got\n{output}"
        self.values.update({k: v for k, v in found.groupdict().items() if v is not None})

    def _line_pattern(self, line: str, bound: set[str]) -> str:
        names = "|".join(PLACEHOLDERS)
        out = ""
        for piece in re.split(rf"((?<![\w$])(?:{names})(?!\w)|{ANY})", line):
            if piece == ANY:
                out += ".*?"
            elif piece in PLACEHOLDERS and piece in self.values:
                out += re.escape(self.values[piece])
            elif piece in PLACEHOLDERS:
                out += f"(?P={piece})" if piece in bound else rf"(?P<{piece}>\S+)"
                bound.add(piece)
            else:
                out += re.escape(piece)
        return out

    def transcript(self) -> str:
        return "\n".join(self.log)[-6000:]
