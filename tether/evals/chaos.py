"""The chaos suite: runs under injected faults, scored on recovery.

Each scenario runs a real agent run while something goes wrong: a tool times out, an HTTP
server answers 429 with ``Retry-After``, 5xx, a malformed or an oversize body (a real server
on 127.0.0.1, :mod:`tether.evals.faults`), the model endpoint fails or answers with a call to
a tool that does not exist or with arguments that are not JSON, or the worker process is
killed with SIGKILL mid-run and another process takes the run over
(:mod:`tether.evals.chaos_crash`). A scenario states the status its run must end in and how
many side effects must have happened (counted where they happen: a file, the server's table
of writes, a SQLite table), and it is *recovered* when the run reached a terminal state,
that status, and exactly that many effects: no effect lost, none duplicated.

``run_chaos(folder)`` runs them all and returns a ``ChaosReport``; ``recovery_rate`` is the
figure ``bench/evals_suites.py`` records as ``chaos_recovery_rate``. The evals runner calls
``run_chaos`` (or ``run_chaos_sync``) and reads ``ChaosReport.to_json()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.evals.faults import FaultServer, fault_server
from tether.types import RunStatus

FAULTS = (
    "tool_timeout",
    "tool_error",
    "http_429",
    "http_5xx",
    "http_malformed",
    "http_oversize",
    "model_error",
    "model_invalid_output",
    "worker_kill",
)


@dataclass(frozen=True, kw_only=True)
class ChaosOutcome:
    """What one scenario's run came to, against what it had to come to."""

    scenario: str
    fault: str
    expected_status: RunStatus
    status: RunStatus | None  # None: the run was not found
    expected_effects: int
    effects: int
    checks: tuple[tuple[str, bool], ...] = ()  # the scenario's own checks (name, held)
    detail: str = ""

    @property
    def terminal(self) -> bool:
        return self.status is not None and self.status.is_final

    @property
    def recovered(self) -> bool:
        return (
            self.terminal
            and self.status is self.expected_status
            and self.effects == self.expected_effects
            and all(ok for _, ok in self.checks)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "fault": self.fault,
            "expected_status": self.expected_status.value,
            "status": None if self.status is None else self.status.value,
            "expected_effects": self.expected_effects,
            "effects": self.effects,
            "checks": dict(self.checks),
            "terminal": self.terminal,
            "recovered": self.recovered,
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True)
class ChaosReport:
    outcomes: tuple[ChaosOutcome, ...]

    @property
    def recovery_rate(self) -> float:
        return sum(o.recovered for o in self.outcomes) / max(1, len(self.outcomes))

    @property
    def failures(self) -> list[ChaosOutcome]:
        return [o for o in self.outcomes if not o.recovered]

    def by_fault(self) -> dict[str, tuple[int, int]]:
        """fault -> (recovered, scenarios)."""
        out: dict[str, tuple[int, int]] = {}
        for o in self.outcomes:
            done, total = out.get(o.fault, (0, 0))
            out[o.fault] = (done + o.recovered, total + 1)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": "chaos",
            "scenarios": len(self.outcomes),
            "recovery_rate": self.recovery_rate,
            "by_fault": {
                k: {"recovered": r, "scenarios": n} for k, (r, n) in self.by_fault().items()
            },
            "outcomes": [o.to_json() for o in self.outcomes],
        }


@dataclass(kw_only=True)
class ChaosEnv:
    """What a scenario gets: its own folder and the shared fault server (reset for it)."""

    folder: Path
    server: FaultServer


@dataclass(frozen=True, kw_only=True)
class Observed:
    """What a scenario saw: the run's final status, the effects counted, its own checks."""

    status: RunStatus | None
    effects: int
    checks: tuple[tuple[str, bool], ...] = ()
    detail: str = ""


Run = Callable[[ChaosEnv], Awaitable[Observed]]


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A fault, the run it hits, and what the run must end with."""

    name: str
    fault: str
    run: Run
    expected_status: RunStatus = RunStatus.SUCCEEDED
    expected_effects: int = 0


def scenarios(*, crash: bool = True) -> list[Scenario]:
    """Every scenario; ``crash``: include the SIGKILL ones (real processes). (Imported here:
    the scenario modules import this one's types.)"""
    from tether.evals.chaos_crash import CRASH_SCENARIOS
    from tether.evals.chaos_models import MODEL_SCENARIOS
    from tether.evals.chaos_tools import TOOL_SCENARIOS

    found = [*TOOL_SCENARIOS, *MODEL_SCENARIOS]
    return [*found, *CRASH_SCENARIOS] if crash else found


async def run_chaos(
    folder: Path, *, crash: bool = True, only: Sequence[str] | None = None
) -> ChaosReport:
    """Run the scenarios (``only``: these names) one after another under ``folder``."""
    outcomes: list[ChaosOutcome] = []
    with fault_server() as server:
        for scenario in scenarios(crash=crash):
            if only is not None and scenario.name not in only:
                continue
            server.reset()
            where = folder / scenario.name
            where.mkdir(parents=True, exist_ok=True)
            outcomes.append(await _guarded(scenario, ChaosEnv(folder=where, server=server)))
    return ChaosReport(outcomes=tuple(outcomes))


def run_chaos_sync(folder: Path, **options: Any) -> ChaosReport:
    return asyncio.run(run_chaos(folder, **options))


async def _guarded(scenario: Scenario, env: ChaosEnv) -> ChaosOutcome:
    """Score one scenario; one that raises is not recovered, with the error as its detail."""
    try:
        seen = await scenario.run(env)
    except Exception as exc:
        seen = Observed(
            status=None, effects=-1, detail=f"the scenario raised {type(exc).__name__}: {exc}"
        )
    return ChaosOutcome(
        scenario=scenario.name,
        fault=scenario.fault,
        expected_status=scenario.expected_status,
        status=seen.status,
        expected_effects=scenario.expected_effects,
        effects=seen.effects,
        checks=seen.checks,
        detail=seen.detail,
    )


class EffectLog:
    """Side effects counted in a file, one line each (it survives the process that wrote it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []

    def count(self, prefix: str = "") -> int:
        return sum(1 for line in self.lines() if line.startswith(prefix))
