"""Deterministic models that agent versions name (``python:tests.versions.models:NAME``).

``good`` answers every question right; ``bad`` never knows; ``some`` is right only when the
last digit in the goal is even; ``flaky`` is right but gives no answer at all (the run fails)
when that digit is even; ``broken`` never answers. Any process can import them (with
PYTHONPATH at the repository).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tether.types import ModelRequest, ModelResponse, Usage, UserMessage

Rule = Literal["all", "none", "even_right", "even_fails", "no_answer"]
RIGHT, WRONG = "The answer is 42.", "I am not sure."


@dataclass(frozen=True)
class Answering:
    id: str
    rule: Rule

    async def request(self, request: ModelRequest) -> ModelResponse:
        goal = next((m.content for m in request.messages if isinstance(m, UserMessage)), "")
        digits = re.findall(r"\d", goal or "")
        even = bool(digits) and int(digits[-1]) % 2 == 0
        usage = Usage(input_tokens=10, output_tokens=5)
        if self.rule == "no_answer" or (self.rule == "even_fails" and even):
            return ModelResponse(text="", usage=usage, model=self.id)  # the run fails
        right = self.rule in ("all", "even_fails") or (self.rule == "even_right" and even)
        return ModelResponse(text=RIGHT if right else WRONG, usage=usage, model=self.id)


def good() -> Answering:
    return Answering("python:tests.versions.models:good", "all")


def bad() -> Answering:
    return Answering("python:tests.versions.models:bad", "none")


def some() -> Answering:
    return Answering("python:tests.versions.models:some", "even_right")


def flaky() -> Answering:
    return Answering("python:tests.versions.models:flaky", "even_fails")


def broken() -> Answering:
    return Answering("python:tests.versions.models:broken", "no_answer")
