"""Data labels and origin labels of the content a call involves (pure functions).

A detecting redactor scans each text for what it would hide. Data still in the clear gives
its kind (``email``) and its class: ``pii`` (email, phone, card, IBAN, SSN) or ``secret``
(keys, tokens, credentials, known secret values). Data already masked by the redactor (the
run state holds ``[REDACTED:email]`` when redaction is on, the default) gives ``redacted``
and ``redacted:email``: the call carries a marker, not the data, so the classification pack
does not stop it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from tether.governance.taint import UNTRUSTED, origin_labels
from tether.redact import Redactor

_MARKER = re.compile(r"\[REDACTED:([a-z0-9_]+)\]")
_PII = frozenset({"email", "phone", "credit_card", "iban", "ssn"})
_SECRET = frozenset({"secret", "api_key", "bearer", "credential", "jwt", "private_key"})
__all__ = ["UNTRUSTED", "labels_of_text", "labels_of_value", "origin_labels"]


def labels_of_text(text: str, detector: Redactor | None = None) -> frozenset[str]:
    """The labels of one text: what ``detector`` finds in the clear, and the markers of what
    was masked before."""
    before = Counter(_MARKER.findall(text)) if "[REDACTED:" in text else Counter[str]()
    masked = set(before)
    clear: set[str] = set()
    if detector is not None:
        found = detector.redact_text(text)
        if found != text:
            after = Counter(_MARKER.findall(found))
            clear = {kind for kind, n in after.items() if n > before[kind]}
    redacted = {f"redacted:{k}" for k in masked} | ({"redacted"} if masked else set())
    return _with_classes(clear) | frozenset(redacted)


def labels_of_value(value: Any, detector: Redactor | None = None) -> frozenset[str]:
    """The labels of a JSON-like value (tool arguments)."""
    if isinstance(value, str):
        return labels_of_text(value, detector)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return labels_of_text(text, detector)


def _with_classes(kinds: set[str]) -> frozenset[str]:
    if not kinds:
        return frozenset()
    classes = {"pii" for k in kinds if k in _PII} | {"secret" for k in kinds if k in _SECRET}
    return frozenset(kinds | classes)
