"""The three team protocols, each a small driver over ``TeamRun.turn`` and the arbiter.

- ``pipeline``: roles in the declared order; each role's output is the next role's input.
- ``group_chat``: roles take turns on a shared transcript (declared order, or ``@role``
  mentions) until a message holds the ``until`` marker, by the conflict rule.
- ``supervisor``: see ``tether.team.handoff``; the manager delegates through handoff tools.

Each returns ``(status, output, reason)``; the caller journals ``run_finished``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tether.team import arbiter
from tether.team.arbiter import Said
from tether.team.run import TeamRun, TurnResult
from tether.types import RunStatus

Outcome = tuple[RunStatus, str | None, str | None]


async def pipeline(tr: TeamRun, goal: str) -> Outcome:
    last: TurnResult | None = None
    for role in tr.team.turn_order:
        stop = arbiter.before_turn(tr.team.arbiter, tr.allocated, role)
        if stop is not None:
            return await _stopped(tr, stop, last.output if last else None)
        got = await tr.turn(role, pipeline_input(goal, last))
        if isinstance(got, arbiter.Decision):
            return _status(got), last.output if last else None, got.reason
        if got.status is not RunStatus.SUCCEEDED:
            return await _role_failed(tr, got)
        last = got
    assert last is not None
    return RunStatus.SUCCEEDED, last.output, None


def pipeline_input(goal: str, previous: TurnResult | None) -> str:
    if previous is None:
        return goal
    return (
        f"Goal: {goal}\n\nThe previous role ({previous.role}) handed you this:\n"
        f"{previous.output or ''}"
    )


async def group_chat(tr: TeamRun, goal: str) -> Outcome:
    team, rules = tr.team, tr.team.arbiter
    names = [r.name for r in team.roles]
    said: list[Said] = []
    while True:
        speaker = arbiter.next_speaker(team.turn_order, team.selector, said, names)
        stop = arbiter.before_turn(rules, tr.allocated, speaker)
        if stop is not None:
            return await _stopped(tr, stop, said[-1].text if said else None)
        got = await tr.turn(speaker, chat_input(goal, said, speaker, team.until))
        if isinstance(got, arbiter.Decision):
            return _status(got), said[-1].text if said else None, got.reason
        if got.status is not RunStatus.SUCCEEDED:
            return await _role_failed(tr, got)
        said.append(Said(role=speaker, text=got.output or ""))
        standing = _standing(said, team.until)
        if _ready(rules.conflict, standing, len(names), team.until):
            chosen, why = arbiter.resolve(rules.conflict, standing, rules.priority)
            await tr.decide(
                arbiter.Decision(
                    decision="resolve",
                    rule=f"conflict:{rules.conflict}",
                    reason=why,
                    role=chosen.role,
                )
            )
            return RunStatus.SUCCEEDED, answer_of(chosen.text, team.until), None
        loop = arbiter.after_turn(rules, said)
        if loop is not None:
            return await _stopped(tr, loop, said[-1].text)


def chat_input(goal: str, said: Sequence[Said], speaker: str, until: str | None) -> str:
    lines = [f"Goal: {goal}", ""]
    if said:
        lines.append("The conversation so far:")
        lines += [f"[{s.role}]: {s.text}" for s in said]
        lines.append("")
    lines.append(f"You are {speaker}. Add your contribution in one message.")
    if until:
        lines.append(f"When the team has the final answer, write: {until} <the answer>")
    return "\n".join(lines)


def _standing(said: Sequence[Said], until: str | None) -> list[Said]:
    """Each role's latest message, if it proposes a final answer, in the order they came."""
    latest = {s.role: i for i, s in enumerate(said)}
    return [said[i] for i in sorted(latest.values()) if arbiter.terminal(said[i].text, until)]


def _ready(rule: str, standing: Sequence[Said], roles: int, until: str | None) -> bool:
    if not standing:
        return False
    if rule != "majority":
        return True
    answers = [arbiter.normalized(answer_of(s.text, until)) for s in standing]
    return max(answers.count(a) for a in answers) * 2 > roles


def answer_of(text: str, until: str | None) -> str:
    """The answer a message proposes: what follows the ``until`` marker (else all of it)."""
    if until:
        at = text.lower().find(until.lower())
        if at >= 0:
            return text[at + len(until) :].strip(" :\n") or text.strip()
    return text.strip()


async def _stopped(tr: TeamRun, d: arbiter.Decision, output: str | None) -> Outcome:
    await tr.decide(d)
    return _status(d), output, d.reason


async def _role_failed(tr: TeamRun, got: TurnResult) -> Outcome:
    d = arbiter.Decision(
        decision="stop",
        rule="role_stopped",
        reason=f"role {got.role!r} ended its turn {got.status.value}: {got.reason}",
        role=got.role,
        status=got.status,
    )
    return await _stopped(tr, d, got.output)


def _status(d: arbiter.Decision) -> RunStatus:
    return d.status or RunStatus.FAILED
