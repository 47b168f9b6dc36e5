"""Deterministic test doubles that ship with tether: a scripted model, a gullible model that
obeys instructions in tool output (prompt-injection cases: ``tether.testing.injection``) and
a fake clock."""

from tether.testing.clock import FakeClock
from tether.testing.gullible import GullibleModel, Obedience
from tether.testing.scripted import ScriptedModel, ScriptError, ScriptStep, answer, call, calls
from tether.testing.spans import SpanCapture

__all__ = [
    "FakeClock",
    "GullibleModel",
    "Obedience",
    "ScriptError",
    "ScriptStep",
    "ScriptedModel",
    "SpanCapture",
    "answer",
    "call",
    "calls",
]
