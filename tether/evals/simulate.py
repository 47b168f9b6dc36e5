"""Simulated users: a scripted persona drives a multi-turn case.

Each turn is a run whose goal is the conversation so far (the persona, then each user and
assistant turn) and the user's new message; after each answer the simulated user picks its
next message (``UserSim.next``) or ends. A case's scripted model plays across all turns. The
observation of the whole conversation joins the turns' calls, usage and journals; its answer
and status are the last turn's, and its ``value`` is the transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from tether.agent.spec import Agent
from tether.evals.dataset import UserSim
from tether.evals.harness import Harness
from tether.evals.observe import Observation


def turn_goal(persona: str, transcript: Sequence[tuple[str, str]], message: str) -> str:
    lines = [f"(The user: {persona})"] if persona else []
    lines += [f"{who}: {text}" for who, text in transcript]
    if not transcript:
        return message
    return "\n".join([*lines, f"User: {message}", "Answer the user's last message."])


def joined(turns: Sequence[Observation], transcript: list[tuple[str, str]]) -> Observation:
    last = turns[-1]
    return Observation(
        run_id=last.run_id,
        goal=turns[0].goal,
        status=last.status,
        output=last.output,
        reason=last.reason,
        steps=sum(t.steps for t in turns),
        tool_calls=sum(t.tool_calls for t in turns),
        tokens=sum(t.tokens for t in turns),
        cost=sum((t.cost for t in turns), Decimal(0)),
        latency_ms=sum(t.latency_ms for t in turns),
        calls=tuple(c for t in turns for c in t.calls),
        events=tuple(e for t in turns for e in t.events),
        model_errors=tuple(m for t in turns for m in t.model_errors),
        value=list(transcript),
    )


async def converse(
    harness: Harness,
    agent: Agent,
    first: str,
    user: UserSim,
    *,
    model: Any = None,
    workspace: Path | None = None,
    seed: int | None = None,
) -> Observation:
    """Run the conversation the simulated ``user`` holds with ``agent``."""
    transcript: list[tuple[str, str]] = []
    turns: list[Observation] = []
    message: str | None = first
    while message is not None and len(turns) < user.max_turns:
        goal = turn_goal(user.persona, transcript, message)
        obs = await harness.run_agent(agent, goal, model=model, workspace=workspace, seed=seed)
        turns.append(obs)
        transcript += [("User", message), ("Assistant", obs.output or "")]
        if obs.status != "succeeded":
            break
        message = user.next(obs.output or "")
    return joined(turns, transcript)
