"""Checksums and issuing rules that tell an identifier from a number that merely looks like one.

Pure predicates over strings, shared by the redactor (``tether/redact.py``) and the PII detector
(``tether/privacy/pii.py``).
"""

from __future__ import annotations

import re

_NINO_RE = re.compile(r"[A-Z]{2}\d{6}[A-D]")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_DNI_RE = re.compile(r"\d{8}[A-Z]")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def luhn_ok(number: str) -> bool:
    """The Luhn checksum of the digits in ``number`` holds (separators are ignored)."""
    digits = [int(c) for c in number if c.isdigit()]
    if not digits:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(number: str) -> bool:
    """A payment card number: 13-19 digits, a major network's first digit (2-6), Luhn."""
    digits = [c for c in number if c.isdigit()]
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(number)


def iban_ok(text: str) -> bool:
    """ISO 13616: 15-34 characters, country letters, check digits, ``mod 97 == 1``."""
    iban = text.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or not (iban.isascii() and iban.isalnum()):
        return False
    if not (iban[:2].isalpha() and iban[2:4].isdigit()):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_ok(text: str) -> bool:
    """A US SSN ``AAA-GG-SSSS``: area 000, 666 and 900-999, group 00 and serial 0000 are
    never issued."""
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return False
    area, group, serial = parts
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def uk_nino_ok(text: str) -> bool:
    """A UK National Insurance number: two letters (never D, F, I, Q, U, V; O not second;
    some pairs never issued), six digits, suffix A-D."""
    nino = text.replace(" ", "").upper()
    if _NINO_RE.fullmatch(nino) is None:
        return False
    if nino[0] in "DFIQUV" or nino[1] in "DFIQUVO":
        return False
    return nino[:2] not in _NINO_BAD_PREFIXES


def es_dni_ok(text: str) -> bool:
    """A Spanish DNI: eight digits and the check letter ``TRWAGMYFPDXBNJZSQVHLCKE[n % 23]``."""
    dni = text.replace("-", "").upper()
    if _DNI_RE.fullmatch(dni) is None:
        return False
    return _DNI_LETTERS[int(dni[:8]) % 23] == dni[8]
