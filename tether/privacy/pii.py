"""PII and secret detection: where personal data and credentials are in a text, and of what kind.

Pure functions over strings. The detectors are the redactor's own (``tether/redact.py``: one
table of patterns and validators serves both), plus national ids the redactor does not know:

- ``email``, ``phone``, ``ipv4``, ``ipv6``;
- ``credit_card`` (13-19 digits, Luhn), ``iban`` (mod-97), ``ssn`` (US, unissued ranges
  refused), ``uk_nino`` (UK National Insurance number, unissued prefixes refused), ``es_dni``
  (Spanish DNI, check letter mod 23);
- secrets: ``private_key``, ``jwt``, ``bearer``, ``api_key``, ``credential``.

Validators live in ``tether/privacy/checksums.py``. When detectors overlap, the earlier one in
that table wins (a card number inside ``password=...`` is one ``credential`` span), so spans
never overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tether.privacy.checksums import es_dni_ok, uk_nino_ok
from tether.redact import _ANY_DETECTOR_RE, _DETECTORS, _Detector, _Scan

__all__ = ["PII_KINDS", "SECRET_KINDS", "Span", "detect", "mask"]

SECRET_KINDS = frozenset({"private_key", "jwt", "bearer", "api_key", "credential"})
PII_KINDS = frozenset(
    {"email", "phone", "credit_card", "iban", "ssn", "uk_nino", "es_dni", "ipv4", "ipv6"}
)


@dataclass(frozen=True, kw_only=True)
class Span:
    """``text[start:end]`` is sensitive data of ``kind``."""

    start: int
    end: int
    kind: str
    value: str

    @property
    def secret(self) -> bool:
        return self.kind in SECRET_KINDS


_EXTRA: tuple[_Detector, ...] = (
    _Detector(
        kind="uk_nino",
        pattern=re.compile(r"(?<![\w-])[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d](?![\w-])"),
        hints=("<digit>",),
        valid=uk_nino_ok,
    ),
    _Detector(
        kind="es_dni",
        pattern=re.compile(r"(?<![\w-])\d{8}-?[A-Za-z](?![\w-])"),
        hints=("<digit>",),
        valid=es_dni_ok,
    ),
)
_ALL = (*_DETECTORS, *_EXTRA)
_QUICK = re.compile(rf"{_ANY_DETECTOR_RE.pattern}|\d{{6}}")  # the extra ids have 6+ digits


def detect(text: str) -> list[Span]:
    """The sensitive spans of ``text``, in order, never overlapping."""
    if len(text) < 3 or _QUICK.search(text) is None:
        return []
    scan = _Scan(text)
    taken: list[Span] = []
    for detector in _ALL:
        if not detector.applies(text, scan):
            continue
        for span in _matches(detector, text):
            if not any(s.start < span.end and span.start < s.end for s in taken):
                taken.append(span)
    return sorted(taken, key=lambda s: s.start)


def _matches(detector: _Detector, text: str) -> Iterator[Span]:
    for match in detector.pattern.finditer(text):
        start, end = match.span()
        for name in detector.groups:
            if match.group(name) is not None:
                start, end = match.span(name)
                break
        value = text[start:end]
        if detector.valid is None or detector.valid(value):
            yield Span(start=start, end=end, kind=detector.kind, value=value)


def mask(text: str, spans: list[Span] | None = None) -> str:
    """``text`` with each span replaced by ``[kind]`` (what indexes and embeddings see)."""
    spans = detect(text) if spans is None else spans
    out, last = [], 0
    for span in spans:
        out += [text[last : span.start], f"[{span.kind}]"]
        last = span.end
    out.append(text[last:])
    return "".join(out)
