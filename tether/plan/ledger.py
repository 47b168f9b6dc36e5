"""What a plan, reflect or auto run has done so far: a fold over its journal events.

``RunState`` applies every event here too, so a run rebuilt from its journal (a resumed
segment, a durable replay) sees the same plans, waves, results and verdicts as the live run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.events import (
    CriticVerdict,
    Event,
    ModelResponded,
    PlanCreated,
    PlanRevised,
    PlanStepFailed,
    PlanWave,
    ReflectRound,
    RouteChosen,
    ToolCallFinished,
)
from tether.plan.graph import Plan, PlanStep


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A plan step's tool result (before the critic's verdict)."""

    ok: bool
    result: Any = None
    error: Any = None


@dataclass(frozen=True, kw_only=True)
class Wave:
    position: int  # the step position its tool calls are journaled at
    version: int
    step_ids: tuple[str, ...]


@dataclass(kw_only=True)
class PlanLedger:
    attempts: int = 0  # plan events: accepted and rejected
    current: Plan | None = None
    version: int = 0  # the current plan's version
    failure: str | None = None  # why the current plan must be revised (None: it may go on)
    signatures: list[str] = field(default_factory=list)  # plans accepted, in order
    failed_signatures: set[str] = field(default_factory=set)  # plans that failed
    results: dict[str, Any] = field(default_factory=dict)  # step id -> passed result
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # step id -> tool result
    judged: set[str] = field(default_factory=set)  # steps of the current plan with a verdict
    waves: list[Wave] = field(default_factory=list)
    calls: dict[str, str] = field(default_factory=dict)  # call id -> step id
    goal_verdict: CriticVerdict | None = None
    route: RouteChosen | None = None
    rounds: list[ReflectRound] = field(default_factory=list)
    by_id: dict[str, PlanStep] = field(default_factory=dict)  # the current plan's steps
    texts: dict[int, str | None] = field(default_factory=dict)  # step position -> model text

    @property
    def started(self) -> set[str]:
        """Steps of the current plan that were dispatched or have a result."""
        current = [w for w in self.waves if w.version == self.version]
        return {i for w in current for i in w.step_ids} | set(self.results)

    def apply(self, event: Event) -> None:
        p = event.payload
        if isinstance(p, ModelResponded):
            self.texts[event.key.step] = p.text
        elif isinstance(p, PlanCreated | PlanRevised):
            self._on_plan(p)
        elif isinstance(p, PlanWave):
            wave = Wave(position=event.key.step, version=p.version, step_ids=tuple(p.step_ids))
            self.waves.append(wave)
            self.calls.update({c["id"]: s for c, s in zip(p.calls, p.step_ids, strict=True)})
        elif isinstance(p, ToolCallFinished) and p.call_id in self.calls:
            step_id = self.calls[p.call_id]
            self.outcomes[step_id] = Outcome(ok=p.ok, result=p.result, error=p.error)
        elif isinstance(p, PlanStepFailed):
            self.failure = f"step {p.step_id!r} failed: {p.error}"
            self._failed()
        elif isinstance(p, CriticVerdict):
            self._on_verdict(p)
        elif isinstance(p, RouteChosen):
            self.route = p
        elif isinstance(p, ReflectRound):
            self.rounds.append(p)

    def _on_plan(self, p: PlanCreated | PlanRevised) -> None:
        self.attempts += 1
        if not p.accepted or p.plan is None:
            self.failure = f"plan {p.version} was rejected: {p.error}"
            return
        plan = plan_from_json(p.plan)
        kept = {
            s.id: self.results[s.id]
            for s in plan.steps
            if s.id in self.results and self._same_step(s)
        }
        self.current, self.version, self.failure = plan, p.version, None
        self.by_id = {s.id: s for s in plan.steps}
        self.results, self.judged, self.goal_verdict = kept, set(kept), None
        self.signatures.append(plan.signature())

    def _same_step(self, step: PlanStep) -> bool:
        old = self.by_id.get(step.id)
        return old is not None and old.signature() == step.signature()

    def _on_verdict(self, p: CriticVerdict) -> None:
        if p.target == "goal":
            self.goal_verdict = p
            if p.verdict == "fail":
                self.failure = f"the goal check failed: {p.explain}"
                self._failed()
            return
        self.judged.add(p.target)
        outcome = self.outcomes.get(p.target)
        if p.verdict == "pass":
            self.results[p.target] = outcome.result if outcome is not None else None
        else:
            self.failure = f"step {p.target!r} failed: {p.explain}"
            self._failed()

    def _failed(self) -> None:
        if self.current is not None:
            self.failed_signatures.add(self.current.signature())

    def in_flight(self) -> Wave | None:
        """The current plan's last wave when some of its steps have no verdict yet."""
        if not self.waves or self.waves[-1].version != self.version:
            return None
        wave = self.waves[-1]
        return wave if any(i not in self.judged for i in wave.step_ids) else None


def plan_from_json(data: dict[str, Any]) -> Plan:
    """A plan as journaled (already validated when it was accepted)."""
    return Plan(
        steps=tuple(
            PlanStep(
                id=s["id"],
                tool=s["tool"],
                args=dict(s.get("args", {})),
                depends_on=tuple(s.get("depends_on", ())),
                expect=s.get("expect", ""),
            )
            for s in data["steps"]
        ),
        answer=data.get("answer", ""),
        confidence=float(data.get("confidence", 1.0)),
    )
