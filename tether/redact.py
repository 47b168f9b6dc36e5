"""Redaction of secrets and personal data in values before they are stored or shown.

:class:`Redactor` is pure: it takes a value and returns a redacted copy. Matches become
``[REDACTED:<type>]``; the types are ``secret`` (a known secret value, or any value under a
secret-looking key), ``private_key``, ``jwt``, ``bearer``, ``api_key``, ``credential`` (the value
in ``password=...``-style text), ``email``, ``iban``, ``credit_card``, ``ssn``, ``ipv4``,
``ipv6`` and ``phone``. Number-shaped detectors are validated (Luhn, mod-97, octet ranges,
digit counts) so that arithmetic, years, dates, times and version numbers stay readable.

Redaction is idempotent: text is redacted until nothing changes, and existing markers (and
sealed-PII tokens ``⟦enc:v1:...⟧``) are never looked into, so ``redact(redact(x)) == redact(x)``.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tether.privacy.checksums import card_ok, iban_ok, ssn_ok

__all__ = ["Redactor"]

MIN_SECRET_LENGTH = 4
# Markers, and the tokens of sealed (encrypted) PII (tether/privacy/seal.py): never looked into.
_MARKER_RE = re.compile(
    r"(\[REDACTED:[a-z0-9_]+\]|⟦enc:v1:[0-9a-f]{16}:[a-z0-9_]+:[A-Za-z0-9_-]+⟧)"
)
_DIGIT_RE = re.compile(r"\d")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_DIGIT = "<digit>"  # a hint meaning "the text has a digit"

_SECRET_KEY_NAMES = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "authorization",
        "private_key",
        "client_secret",
        "secret_key",
        "secret_access_key",
    }
)
_SECRET_KEY_SUFFIXES = tuple(f"_{name}" for name in sorted(_SECRET_KEY_NAMES))


def _phone_ok(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    if not 9 <= digits <= 15 or "  " in text or "--" in text or ".." in text:
        return False
    return text.count("(") == text.count(")") <= 1


def _ipv4_ok(text: str) -> bool:
    """Loopback and unspecified addresses identify no one: keep them (they name local
    endpoints in error messages)."""
    return not (text.startswith("127.") or text == "0.0.0.0")


def _ipv6_ok(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    # "1::2" (a slice) or "::" are valid addresses but rarely one in prose.
    return any(len(group) >= 3 for group in re.split(r"[:.]", text))


class _Scan:
    """Facts about one text segment, computed once and shared by the detectors.

    Detectors only ever remove candidates (markers hold no digit runs), so a fact that was
    false stays false as the segment is redacted; one that was true may just run a detector
    that then finds nothing.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.has_digit = _DIGIT_RE.search(text) is not None
        self._lowered: str | None = None
        self._gates: dict[re.Pattern[str], bool] = {}

    @property
    def lowered(self) -> str:
        if self._lowered is None:
            self._lowered = self.text.lower()
        return self._lowered

    def passes(self, gate: re.Pattern[str]) -> bool:
        found = self._gates.get(gate)
        if found is None:
            found = self._gates[gate] = gate.search(self.text) is not None
        return found


@dataclass(frozen=True, kw_only=True)
class _Detector:
    """One kind of sensitive text: a pattern, an optional validator, cheap hints."""

    kind: str
    pattern: re.Pattern[str]
    hints: tuple[str, ...] = ()
    # Substrings of the lower-cased text, one of which must be present.
    lower_hints: tuple[str, ...] = ()
    # A cheap pattern that must match somewhere (shared between detectors, searched once).
    gate: re.Pattern[str] | None = None
    valid: Callable[[str], bool] | None = None
    # Named groups holding the sensitive part; the rest of the match is kept.
    groups: tuple[str, ...] = ()

    def applies(self, text: str, scan: _Scan) -> bool:
        if self.hints and not any(scan.has_digit if h == _DIGIT else h in text for h in self.hints):
            return False
        if self.lower_hints and not any(h in scan.lowered for h in self.lower_hints):
            return False
        return self.gate is None or scan.passes(self.gate)

    def sub(self, text: str) -> str:
        return self.pattern.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        whole = match.group(0)
        for name in self.groups:
            part = match.group(name)
            if part is not None:
                if self.valid is not None and not self.valid(part):
                    return whole
                start, end = match.start(name) - match.start(), match.end(name) - match.start()
                return f"{whole[:start]}[REDACTED:{self.kind}]{whole[end:]}"
        if self.valid is not None and not self.valid(whole):
            return whole
        return f"[REDACTED:{self.kind}]"


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Nine or more digits with short separators: what phones, cards, IBANs and SSNs all have.
_DIGIT_RUN_GATE = re.compile(r"\d(?:[ .()-]{0,2}\d){8,}")
_IPV4_GATE = re.compile(r"\d\.\d+\.\d+\.\d")
_CREDENTIAL_KEYS = (
    r"password|passwd|passphrase|secret|token|api[_-]?key|apikey|authorization|private[_-]?key"
)

_DETECTORS: tuple[_Detector, ...] = (
    _Detector(
        kind="private_key",
        pattern=re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        hints=("-----BEGIN",),
    ),
    _Detector(
        kind="bearer",
        pattern=re.compile(
            r"\b(?i:bearer)\s+(?=[A-Za-z0-9._~+/-]*\d|[A-Za-z0-9._~+/-]{20})"
            r"[A-Za-z0-9._~+/-]{8,}=*"
        ),
        hints=("earer", "EARER"),
    ),
    _Detector(
        kind="jwt",
        pattern=re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        hints=("eyJ",),
    ),
    _Detector(
        kind="api_key",
        pattern=re.compile(
            r"\bsk-(?:ant-)?[A-Za-z0-9_-]{16,}"
            r"|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"
            r"|\bAKIA[0-9A-Z]{16}\b"
            r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b"
            r"|\bxox[baprs]-[A-Za-z0-9-]{10,}"
            r"|\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"
        ),
        hints=("sk-", "sk_", "rk_", "AKIA", "gh", "xox", "AIza"),
    ),
    _Detector(
        kind="credential",
        pattern=re.compile(
            rf"(?i:{_CREDENTIAL_KEYS})[\"']?\s*[:=]\s*"
            r"(?:\"(?!\[REDACTED:)(?P<dq>[^\"\n]+)\"|'(?!\[REDACTED:)(?P<sq>[^'\n]+)'"
            r"|(?P<bare>(?:(?:Basic|Bearer|Token|Digest)\s+)?[^\s\"',;&<>{}\[\]()]+))"
        ),
        hints=("=", ":"),
        lower_hints=("pass", "secret", "token", "key", "auth"),
        groups=("dq", "sq", "bare"),
    ),
    _Detector(
        kind="email",
        pattern=re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
        hints=("@",),
    ),
    _Detector(
        kind="iban",
        pattern=re.compile(
            r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
            r"(?![A-Za-z0-9])"
        ),
        hints=(_DIGIT,),
        gate=_DIGIT_RUN_GATE,
        valid=iban_ok,
    ),
    _Detector(
        kind="credit_card",
        pattern=re.compile(
            r"(?<![\w.-])(?:\d{13,19}"
            r"|\d{4}(?P<s>[ -])\d{4}(?P=s)\d{4}(?P=s)\d{1,4}(?:(?P=s)\d{1,3})?"
            r"|\d{4}(?P<t>[ -])\d{6}(?P=t)\d{4,5})(?![\w-]|\.\d)"
        ),
        hints=(_DIGIT,),
        gate=_DIGIT_RUN_GATE,
        valid=card_ok,
    ),
    _Detector(
        kind="ssn",
        pattern=re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"),
        hints=(_DIGIT,),
        gate=_DIGIT_RUN_GATE,
        valid=ssn_ok,
    ),
    _Detector(
        kind="ipv6",
        pattern=re.compile(
            r"(?<![\w:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}"
            r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:.])"
        ),
        hints=(":",),
        gate=re.compile(r":[0-9A-Fa-f]*:"),
        valid=_ipv6_ok,
    ),
    _Detector(
        kind="ipv4",
        pattern=re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\w|\.\d)"),
        hints=(".",),
        gate=_IPV4_GATE,
        valid=_ipv4_ok,
    ),
    _Detector(
        kind="phone",
        pattern=re.compile(
            r"(?<![\w+])\+[1-9][\d .()-]{6,20}\d(?!\d)"
            r"|(?<![\w+.-])(?:1[-. ])?"
            r"(?:\(\d{3}\) ?\d{3}[-. ]?\d{4}|\d{3}(?P<p>[-. ])\d{3}(?P=p)\d{4})"
            r"(?![\w-]|\.\d)"
            r"|(?<![\w+.-])0\d{1,4}(?P<q>[ .-])\d{2,8}(?:(?P=q)\d{2,4}){0,3}(?![\w-]|\.\d)"
            r"|(?<![\w+.-])0\d{9,10}(?![\w-]|\.\d)"
        ),
        hints=(_DIGIT,),
        gate=_DIGIT_RUN_GATE,
        valid=_phone_ok,
    ),
)


# Something every detector needs before it can apply (the union of their hints and gates): a
# segment this does not match is returned as is after one search instead of one check per
# detector. tests/test_redact.py checks the implication for each detector.
_ANY_DETECTOR_RE = re.compile(
    r"-----BEGIN|earer|EARER|eyJ|sk-|sk_|rk_|AKIA|gh|xox|AIza|@|:[0-9A-Fa-f]*:"
    r"|(?i:pass|secret|token|key|auth)"
    rf"|{_DIGIT_RUN_GATE.pattern}|{_IPV4_GATE.pattern}"
)
_CLEAN_CACHE_SIZE = 1024  # texts known to hold nothing to redact (no secret is kept)


def _same(new: Iterable[Any], old: Iterable[Any]) -> bool:
    return all(map(operator.is_, new, old))


class Redactor:
    """Replaces secrets and personal data with ``[REDACTED:<type>]`` markers.

    ``secrets`` are exact values to hide wherever they appear (shorter than
    ``MIN_SECRET_LENGTH`` characters they are ignored: they would match ordinary text).
    With ``enabled=False`` every value passes through unchanged.
    """

    def __init__(self, secrets: Iterable[str] = (), *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._secrets: set[str] = set()
        self._secret_re: re.Pattern[str] | None = None
        self._key_cache: dict[str, bool] = {}
        self._clean: set[str] = set()  # texts that came back unchanged (prompts repeat)
        for value in secrets:
            self.add_secret(value)

    def add_secret(self, value: str) -> None:
        """Hide ``value`` (exactly as written) from now on; longest secrets match first."""
        if len(value) < MIN_SECRET_LENGTH or value in self._secrets:
            return
        self._secrets.add(value)
        ordered = sorted(self._secrets, key=lambda s: (-len(s), s))
        self._secret_re = re.compile("|".join(re.escape(s) for s in ordered))
        self._clean = set()  # a text clean before may hold the new secret

    def redact(self, value: Any) -> Any:
        """A redacted copy of ``value``: dicts, lists, tuples and strings are walked.

        Dict keys are kept; every string or number under a secret-looking key (``password``,
        ``api_key``, ``x-api-key``, ``accessToken``...) is replaced whole. Other scalars pass.
        """
        if not self.enabled:
            return value
        return self._walk(value, hidden=False)

    def redact_text(self, text: str) -> str:
        """``text`` with every detected secret or personal datum replaced by a marker."""
        clean = self._clean  # a concurrent add_secret swaps in a new set: adds here are dropped
        if not self.enabled or text in clean:
            return text
        original = text
        while True:
            redacted = self._one_pass(text)
            if redacted == text:
                break
            text = redacted
        if text is original:
            if len(clean) >= _CLEAN_CACHE_SIZE:
                clean.clear()
            clean.add(text)
        return text

    def _walk(self, value: Any, *, hidden: bool) -> Any:
        """The redacted value; the very same object when nothing in it changed."""
        kind = type(value)  # exact types first: payloads are plain JSON
        if kind is str or isinstance(value, str):
            return "[REDACTED:secret]" if hidden and value else self.redact_text(value)
        if kind is dict or isinstance(value, dict):
            secret = self._is_secret_key
            out = {k: self._walk(v, hidden=hidden or secret(k)) for k, v in value.items()}
            return value if _same(out.values(), value.values()) else out
        if kind is list or kind is tuple or isinstance(value, list | tuple):
            items = [self._walk(v, hidden=hidden) for v in value]
            if _same(items, value):
                return value
            return items if isinstance(value, list) else tuple(items)
        if value is None or kind is bool or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return "[REDACTED:secret]" if hidden else value
        return value

    def _is_secret_key(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        known = self._key_cache.get(key)
        if known is None:
            name = _CAMEL_RE.sub("_", key).lower().replace("-", "_").replace(" ", "_")
            known = name in _SECRET_KEY_NAMES or name.endswith(_SECRET_KEY_SUFFIXES)
            if len(self._key_cache) < 4096:
                self._key_cache[key] = known
        return known

    def _one_pass(self, text: str) -> str:
        if "[REDACTED:" not in text and "⟦enc:" not in text:
            return self._redact_segment(text)
        parts = _MARKER_RE.split(text)
        # split() with a capturing group puts the markers at the odd positions.
        return "".join(p if i % 2 else self._redact_segment(p) for i, p in enumerate(parts))

    def _redact_segment(self, text: str) -> str:
        if len(text) < 3:
            return text
        secret_re = self._secret_re
        if secret_re is not None:
            text = secret_re.sub("[REDACTED:secret]", text)
        if _ANY_DETECTOR_RE.search(text) is None:
            return text
        scan = _Scan(text)
        for detector in _DETECTORS:
            if detector.applies(text, scan):
                text = detector.sub(text)
        return text
