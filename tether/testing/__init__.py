"""Deterministic test doubles that ship with tether: a scripted model and a fake clock."""

from tether.testing.clock import FakeClock
from tether.testing.scripted import ScriptedModel, ScriptError, ScriptStep, answer, call, calls
from tether.testing.spans import SpanCapture

__all__ = [
    "FakeClock",
    "ScriptError",
    "ScriptStep",
    "ScriptedModel",
    "SpanCapture",
    "answer",
    "call",
    "calls",
]
