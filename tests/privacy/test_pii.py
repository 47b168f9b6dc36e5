"""PII detection: checksums (property tests), spans with kinds, and false positives."""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.privacy.checksums import card_ok, es_dni_ok, iban_ok, luhn_ok, ssn_ok, uk_nino_ok
from tether.privacy.pii import PII_KINDS, SECRET_KINDS, detect, mask
from tether.redact import Redactor


def luhn_complete(body: str) -> str:
    """``body`` with the Luhn check digit appended."""
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("a check digit always exists")


def iban_complete(country: str, bban: str) -> str:
    """A valid IBAN for ``country`` and ``bban``: ISO 7064 mod 97-10 check digits."""
    numeric = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - numeric % 97:02d}{bban}"


cards = st.builds(
    lambda first, rest: luhn_complete(first + rest),
    st.sampled_from("23456"),
    st.text("0123456789", min_size=14, max_size=14),
)
ibans = st.builds(
    iban_complete,
    st.sampled_from(["DE", "FR", "GB", "NL", "ES", "IT", "BE"]),
    st.text(string.digits, min_size=14, max_size=24),
)


@given(cards)
def test_luhn_accepts_a_completed_number_and_detects_it_in_text(number: str) -> None:
    assert luhn_ok(number) and card_ok(number)
    grouped = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    spans = detect(f"pay with {grouped} today")
    assert [(s.kind, s.value) for s in spans] == [("credit_card", grouped)]


@given(cards, st.integers(0, 15), st.integers(1, 9))
def test_luhn_rejects_every_single_digit_change(number: str, at: int, delta: int) -> None:
    changed = number[:at] + str((int(number[at]) + delta) % 10) + number[at + 1 :]
    assert not luhn_ok(changed)
    assert not any(s.kind == "credit_card" for s in detect(f"pay with {changed} today"))


@given(ibans)
def test_iban_mod97_accepts_completed_ibans_and_detects_them(iban: str) -> None:
    assert iban_ok(iban)
    assert [s.kind for s in detect(f"send it to {iban} please")] == ["iban"]


@given(ibans, st.data())
def test_iban_mod97_rejects_a_changed_digit(iban: str, data: st.DataObject) -> None:
    digits = [i for i, c in enumerate(iban) if c.isdigit() and i >= 2]
    at = data.draw(st.sampled_from(digits))
    delta = data.draw(st.integers(1, 9))
    changed = iban[:at] + str((int(iban[at]) + delta) % 10) + iban[at + 1 :]
    assert not iban_ok(changed)


@settings(max_examples=300)
@given(st.text(st.characters(codec="utf-8"), max_size=80))
def test_spans_are_ordered_disjoint_and_match_the_text(text: str) -> None:
    spans = detect(text)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    for s in spans:
        assert text[s.start : s.end] == s.value and s.kind in PII_KINDS | SECRET_KINDS
    assert "[" in mask(text) or not spans


@pytest.mark.parametrize(
    "text",
    [
        "In 2024 we sold 1500 units for 123456 dollars.",
        "Meet on 2026-12-01 at 10:30:15, version 1.2.3 is out.",
        "17 * 23 + 4 = 395; 1234 5678 is not a card.",
        "Order 4111 1111 1111 1112 failed the checksum.",
        "SSN-like 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000.",
        "Chapter 12, page 345678, line 9.",
        "Loopback 127.0.0.1 and 0.0.0.0 identify no one.",
        "The word DE89 alone, and GB00 WEST 1234 5698 7654 32 with bad check digits.",
        "Codes AB123456E and 12345678A are not national ids.",
    ],
)
def test_ordinary_text_has_no_spans(text: str) -> None:
    assert detect(text) == [], detect(text)


def test_kinds_found_in_one_text() -> None:
    text = (
        "Mail jane.doe@example.com or +44 20 7946 0958; card 4111-1111-1111-1111; "
        "IBAN GB82 WEST 1234 5698 7654 32; SSN 123-45-6789; NINO AB 12 34 56 C; "
        "DNI 12345678Z; from 203.0.113.7 and 2001:db8::8a2e:370:7334; "
        "key sk-ant-abcdefghijklmnop1234; password=hunter22"
    )
    kinds = [s.kind for s in detect(text)]
    assert kinds == [
        "email",
        "phone",
        "credit_card",
        "iban",
        "ssn",
        "uk_nino",
        "es_dni",
        "ipv4",
        "ipv6",
        "api_key",
        "credential",
    ]


def test_national_id_rules() -> None:
    assert ssn_ok("123-45-6789") and not ssn_ok("666-45-6789") and not ssn_ok("900-45-6789")
    assert uk_nino_ok("AB123456C") and not uk_nino_ok("GB123456C") and not uk_nino_ok("DA123456A")
    assert uk_nino_ok("ab 12 34 56 c") and not uk_nino_ok("AO123456A")
    assert es_dni_ok("12345678Z") and not es_dni_ok("12345678A")


def test_the_redactor_uses_the_same_ssn_rules() -> None:
    redactor = Redactor()
    assert redactor.redact_text("SSN 123-45-6789") == "SSN [REDACTED:ssn]"
    assert "ssn" not in redactor.redact_text("SSN 666-45-6789")


def test_the_redactor_never_looks_into_sealed_tokens() -> None:
    token = "⟦enc:v1:0123456789abcdef:email:ab-sk-abcdefghijklmnopqrstuvwxyz0123_4111111111111111⟧"
    assert Redactor().redact_text(f"mail {token} x@y.org") == f"mail {token} [REDACTED:email]"
