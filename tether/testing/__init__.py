"""Deterministic test doubles that ship with tether: a scripted model and a fake clock."""

from tether.testing.clock import FakeClock
from tether.testing.scripted import ScriptedModel, ScriptError, ScriptStep, answer, call, calls

__all__ = ["FakeClock", "ScriptError", "ScriptStep", "ScriptedModel", "answer", "call", "calls"]
