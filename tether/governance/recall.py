"""Which parts of a request a slice of policies can see, so a decision can be remembered.

Cedar's answer to a request is a function of the policies, the entities, the principal, the
action, the resource and the context. Within one loaded policy set (``Policies``) the first
five are fixed per (principal, resource, action family), and Cedar reads the context only
through its attributes: ``context.x`` and ``context has x``. Two requests whose contexts
agree on the attributes a slice's policies read (present with equal values, or both absent)
therefore get the same answers, and so the same ``Decision``. The key also holds the shape of
the whole context (attribute names and value types), which is what Cedar checks against the
schema. A slice whose policies use ``context`` in any other way (``context == {...}``, passed
whole to a function) keys on the whole context: exact, rarely reused.

A durable agent step decides its model call and its tool call each time; with the packs'
policies their contexts repeat (same labels, same taint facts; the budget left is read by
no pack), so most steps reuse the decision of the step before instead of asking Cedar.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

_CONTEXT = {"Var": "context"}
_MISSING = {"__tether_missing__": True}  # an attribute the context does not have


def context_reads(policies: Iterable[Mapping[str, Any]]) -> frozenset[str] | None:
    """The context attributes the policies (Cedar JSON) read, or None when one of them uses
    ``context`` otherwise than through an attribute (then nothing can be left out)."""
    found: set[str] = set()
    for policy in policies:
        if not _collect(policy.get("conditions", []), found):
            return None
    return frozenset(found)


def _collect(node: Any, found: set[str]) -> bool:
    """Add the attributes read from ``context`` under ``node``; False on any other use."""
    if isinstance(node, list):
        return all(_collect(item, found) for item in node)
    if not isinstance(node, dict):
        return True
    if node == _CONTEXT:
        return False  # context as a whole value
    for op in (".", "has"):
        access = node.get(op)
        if len(node) == 1 and isinstance(access, dict) and access.get("left") == _CONTEXT:
            found.add(str(access["attr"]))
            return True
    return all(_collect(value, found) for value in node.values())


def context_key(reads: frozenset[str] | None, context: Mapping[str, Any]) -> str:
    """What a decision depends on in ``context`` (see the module docstring), as one string."""
    shape = sorted((name, type(value).__name__) for name, value in context.items())
    if reads is None:
        seen: Any = context
    else:
        seen = {name: context.get(name, _MISSING) for name in reads}
    return json.dumps([shape, seen], sort_keys=True, separators=(",", ":"), default=str)
