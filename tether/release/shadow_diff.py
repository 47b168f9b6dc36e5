"""What a shadow run did differently from its production run (pure).

Tool calls are compared by name and arguments in order: a call the candidate made that
production did not is ``added``, one it left out is ``removed``, the same tool with other
arguments at the same place is ``changed``, and the same calls in another order is ``order``.
Then the final ``answer`` and the ``status``.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tether.evals.observe import CallRecord
from tether.release.shadow_tools import signature

DiffKind = Literal["added", "removed", "changed", "order", "answer", "status"]


@dataclass(frozen=True, kw_only=True)
class Difference:
    kind: DiffKind
    detail: str
    position: int | None = None  # 1-based call position (in the shadow run; removed: production)
    production: Any = None
    shadow: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "position": self.position,
            "detail": self.detail,
            "production": self.production,
            "shadow": self.shadow,
        }


def _call(c: CallRecord) -> dict[str, Any]:
    return {"tool": c.tool, "arguments": c.arguments}


def _shown(c: CallRecord) -> str:
    return signature(c.tool, c.arguments)


def _replaced(
    prod: Sequence[CallRecord], shad: Sequence[CallRecord], i1: int, j1: int
) -> list[Difference]:
    """A replaced block: a shadow call pairs with the block's first unpaired production call
    of the same tool (``changed``); the rest were ``added`` or ``removed``."""
    out = []
    paired: set[int] = set()
    for k, b in enumerate(shad):
        n = next((n for n, a in enumerate(prod) if n not in paired and a.tool == b.tool), None)
        if n is None:
            out.extend(_one("added", b, j1 + k + 1))
            continue
        paired.add(n)
        a = prod[n]
        out.append(
            Difference(
                kind="changed",
                position=j1 + k + 1,
                detail=f"call {j1 + k + 1}: {a.tool} with other arguments: "
                f"production {_shown(a)}, shadow {_shown(b)}",
                production=_call(a),
                shadow=_call(b),
            )
        )
    for n, a in enumerate(prod):
        if n not in paired:
            out.extend(_one("removed", a, i1 + n + 1))
    return out


def _one(kind: Literal["added", "removed"], c: CallRecord, position: int) -> list[Difference]:
    side = "production" if kind == "removed" else "shadow"
    verb = "only production made" if kind == "removed" else "only the shadow made"
    return [
        Difference(
            kind=kind,
            position=position,
            detail=f"call {position}: {verb} {_shown(c)}",
            **{side: _call(c)},
        )
    ]


def call_differences(
    production: Sequence[CallRecord], shadow: Sequence[CallRecord]
) -> list[Difference]:
    a = [_shown(c) for c in production]
    b = [_shown(c) for c in shadow]
    if a == b:
        return []
    if Counter(a) == Counter(b):
        return [
            Difference(
                kind="order",
                detail="the same calls in another order: "
                f"production {', '.join(a)}; shadow {', '.join(b)}",
                production=[_call(c) for c in production],
                shadow=[_call(c) for c in shadow],
            )
        ]
    out: list[Difference] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        out.extend(_replaced(production[i1:i2], shadow[j1:j2], i1, j1))
    return out


def differences(
    production: Sequence[CallRecord],
    shadow: Sequence[CallRecord],
    answers: tuple[str | None, str | None],
    statuses: tuple[str, str],
) -> list[Difference]:
    """Every difference between a production run and its shadow (calls, answer, status)."""
    out = call_differences(
        [c for c in production if c.validated], [c for c in shadow if c.validated]
    )
    if (answers[0] or "") != (answers[1] or ""):
        out.append(
            Difference(
                kind="answer",
                detail=f"answer: production {answers[0]!r}, shadow {answers[1]!r}",
                production=answers[0],
                shadow=answers[1],
            )
        )
    if statuses[0] != statuses[1]:
        out.append(
            Difference(
                kind="status",
                detail=f"status: production {statuses[0]!r}, shadow {statuses[1]!r}",
                production=statuses[0],
                shadow=statuses[1],
            )
        )
    return out
