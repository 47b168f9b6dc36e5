"""Reflect mode: draft → check with an external checker → critique with its errors → revise.

The checker is outside the model: ``sandbox`` runs the draft (plus ``reflect.tests``) with
``run_python_code`` as an ordinary tool call of the run (validated, policy-checked, journaled;
bubblewrap as an unprivileged user), ``schema`` validates the draft as JSON against
``reflect.schema``, ``predicate`` calls ``reflect.fn(draft)``. A failed check's concrete errors
(the traceback, the schema violation) are the critique the next draft is asked to fix. Every
round is journaled (``reflect_round``); at most ``reflect.max_rounds`` rounds.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from jsonschema import Draft202012Validator

from tether.agent.context import RunContext
from tether.agent.loop import Finish
from tether.agent.runner import StepRunner
from tether.events import ReflectRound
from tether.plan.config import ReflectConfig, load_function
from tether.plan.turns import ask, resume_wave, run_wave
from tether.types import (
    Message,
    ModelRequest,
    ModelSettings,
    RunStatus,
    SystemMessage,
    UserMessage,
)

SANDBOX_TOOL = "run_python_code"
ERROR_CHARS = 1_500
_FENCE = re.compile(r"```(?:[a-zA-Z0-9_+-]*)\n(.*?)```", re.DOTALL)


def reflect_config(ctx: RunContext) -> ReflectConfig:
    return ctx.agent.reflect or ReflectConfig()


def draft_text(text: str | None) -> str:
    """The draft in a reply: a ``{"code": ...}`` object, a fenced block, or the whole text."""
    raw = (text or "").strip()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        return str(data["code"])
    fenced = _FENCE.search(raw)
    return fenced.group(1) if fenced else raw


def draft_request(ctx: RunContext) -> ModelRequest:
    """Ask for a draft; after a failed round, with the checker's errors as the critique."""
    rounds = ctx.state.plan.rounds
    system = ctx.agent.instructions.strip() + "\n\nReply with the complete result only."
    messages: tuple[Message, ...] = (SystemMessage(content=system), *ctx.state.messages)
    if rounds and not rounds[-1].passed:
        messages = (*messages, UserMessage(content=rounds[-1].critique))
    return ModelRequest(
        messages=messages, settings=ModelSettings(max_tokens=ctx.agent.limits.max_output_tokens)
    )


def critique(round_no: int, checker: str, errors: str) -> str:
    return (
        f"Round {round_no}: the {checker} check failed with these errors:\n{errors}\n"
        "Fix exactly these errors and reply with the complete corrected version."
    )


async def drive_reflect(ctx: RunContext, runner: StepRunner) -> Finish:
    cfg = reflect_config(ctx)
    if cfg.checker == "sandbox" and SANDBOX_TOOL not in ctx.registry.names():
        return Finish(
            status=RunStatus.FAILED,
            reason=f"reflect checker 'sandbox' needs the tool {SANDBOX_TOOL!r}; add it to the "
            "agent's tools",
        )
    while True:
        s, rounds = ctx.state, ctx.state.plan.rounds
        if s.status.is_final:
            return Finish(status=s.status, output=s.output, reason=s.reason)
        if rounds and rounds[-1].passed:
            return Finish(status=RunStatus.SUCCEEDED, output=_draft_at(ctx, rounds[-1].draft_step))
        if len(rounds) >= cfg.max_rounds:
            return Finish(
                status=RunStatus.MAX_STEPS,
                reason=f"reached reflect.max_rounds={cfg.max_rounds}; last errors: "
                f"{rounds[-1].errors[:300]}",
            )
        stop = await _round(ctx, runner, cfg, len(rounds) + 1)
        if stop is not None:
            return stop


async def _round(ctx: RunContext, runner: StepRunner, cfg: ReflectConfig, n: int) -> Finish | None:
    ledger = ctx.state.plan
    wave = ledger.waves[-1] if ledger.waves and ledger.waves[-1].version == n else None
    if wave is None:  # no check in flight for this round: draft
        asked = await ask(ctx, runner, draft_request)
        if isinstance(asked, Finish):
            return asked
        step, draft = asked.step, draft_text(asked.text)
    else:  # a resumed run whose check was dispatched: finish it
        step = wave.position - 1
        draft = _draft_at(ctx, step)
    passed, errors = await _check(ctx, runner, cfg, n, draft, wave is not None)
    if isinstance(passed, Finish):
        return passed
    payload = ReflectRound(
        round=n,
        draft_step=step,
        checker=cfg.checker,
        passed=passed,
        errors=errors,
        critique="" if passed else critique(n, cfg.checker, errors),
    )
    await ctx.record(ctx.key(ctx.state.steps, "reflect_round"), payload)
    return None


async def _check(
    ctx: RunContext, runner: StepRunner, cfg: ReflectConfig, n: int, draft: str, resumed: bool
) -> tuple[bool | Finish, str]:
    if cfg.checker == "schema":
        return _schema_check(cfg, draft)
    if cfg.checker == "predicate":
        assert cfg.fn is not None  # validated with the agent
        out = await asyncio.to_thread(load_function(cfg.fn), draft)
        ok, why = (bool(out[0]), str(out[1])) if isinstance(out, tuple) else (bool(out), "")
        return ok, why or ("" if ok else f"{cfg.fn} returned false")
    program = draft if not cfg.tests else f"{draft}\n\n{cfg.tests}\n"
    if resumed:
        stop = await resume_wave(ctx, runner, ctx.state.plan.waves[-1].position)
    else:
        stop = await run_wave(ctx, runner, n, [("check", SANDBOX_TOOL, {"code": program})])
    if stop is not None:
        return stop, ""
    return _sandbox_verdict(ctx.state.plan.outcomes.get("check"))


def _sandbox_verdict(outcome: Any) -> tuple[bool, str]:
    if outcome is None:
        return False, "the check did not run"
    if not outcome.ok:
        return False, json.dumps(outcome.error, default=str)[:ERROR_CHARS]
    r = outcome.result or {}
    if r.get("timed_out"):
        return False, "the program ran past its time limit (an endless loop?)"
    if r.get("exit_code") != 0:
        tail = (r.get("stderr") or "")[-ERROR_CHARS:]
        return False, f"exit code {r.get('exit_code')}\n{tail}"
    return True, ""


def _schema_check(cfg: ReflectConfig, draft: str) -> tuple[bool, str]:
    try:
        value = json.loads(draft)
    except json.JSONDecodeError as exc:
        return False, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    errors = list(Draft202012Validator(cfg.schema_ or {}).iter_errors(value))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "<root>"
        return False, f"at {where}: {errors[0].message}"
    return True, ""


def _draft_at(ctx: RunContext, step: int) -> str:
    """The draft the model wrote at ``step`` (its journaled reply)."""
    return draft_text(ctx.state.plan.texts.get(step))
