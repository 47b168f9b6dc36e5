"""The redactor: each detector, its false-positive guards, and idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.redact import Redactor


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(["hunter2-correct-horse", "s3cr3t-value"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-live-ABCDEF1234567890abcd", "key [REDACTED:api_key]"),
        ("sk-ant-api03-abcdefghijklmnop_qrs-TUV", "[REDACTED:api_key]"),
        ("sk-proj-AbCdEf0123456789xyz!", "[REDACTED:api_key]!"),
        ("aws AKIAIOSFODNN7EXAMPLE.", "aws [REDACTED:api_key]."),
        ("ghp_" + "a1B2" * 9, "[REDACTED:api_key]"),
        ("gho_" + "Z" * 40 + " end", "[REDACTED:api_key] end"),
        ("slack xoxb-1234567890-abcdefABCDEF", "slack [REDACTED:api_key]"),
        ("AIza" + "Sy_-0123456789abcdefghijklmnopqrstu", "[REDACTED:api_key]"),
    ],
)
def test_api_key_shapes(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.redact_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123def456ghi789", "Authorization: [REDACTED:bearer]"),
        ("bearer QWERTYUIOPASDFGHJKLZXCV", "[REDACTED:bearer]"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
            "jwt [REDACTED:jwt]",
        ),
        (
            "k=-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA PRIVATE KEY----- ok",
            "k=[REDACTED:private_key] ok",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQ truncated", "[REDACTED:private_key]"),
        ("login password=hunter3 now", "login password=[REDACTED:credential] now"),
        ("GITHUB_TOKEN=abcdef, next", "GITHUB_TOKEN=[REDACTED:credential], next"),
        ('{"api_key": "two words"}', '{"api_key": "[REDACTED:credential]"}'),
        ("token: 'xyz'", "token: '[REDACTED:credential]'"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: [REDACTED:credential]"),
        ("client_secret = q1w2e3", "client_secret = [REDACTED:credential]"),
    ],
)
def test_tokens_keys_and_assignments(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.redact_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail bob.smith+x@example.co.uk now", "mail [REDACTED:email] now"),
        ("call +1 (555) 123-4567 today", "call [REDACTED:phone] today"),
        ("+442079460958", "[REDACTED:phone]"),
        ("+49 30 1234 5678", "[REDACTED:phone]"),
        ("call 555-123-4567", "call [REDACTED:phone]"),
        ("(555) 123-4567", "[REDACTED:phone]"),
        ("1-800-555-1234", "[REDACTED:phone]"),
        ("tel 555.123.4567.", "tel [REDACTED:phone]."),
        ("020 7946 0958", "[REDACTED:phone]"),
        ("07700 900123", "[REDACTED:phone]"),
        ("01 23 45 67 89", "[REDACTED:phone]"),
        ("card 4111 1111 1111 1111", "card [REDACTED:credit_card]"),
        ("4111111111111111", "[REDACTED:credit_card]"),
        ("amex 3782-822463-10005", "amex [REDACTED:credit_card]"),
        ("IBAN DE89 3704 0044 0532 0130 00 ok", "IBAN [REDACTED:iban] ok"),
        ("GB82WEST12345698765432", "[REDACTED:iban]"),
        ("SSN 123-45-6789.", "SSN [REDACTED:ssn]."),
        ("host 192.168.1.10:8080", "host [REDACTED:ipv4]:8080"),
        ("from 8.8.8.8.", "from [REDACTED:ipv4]."),
        ("addr 2001:db8::8a2e:370:7334 x", "addr [REDACTED:ipv6] x"),
        ("fe80::1ff:fe23:4567:890a", "[REDACTED:ipv6]"),
        ("::ffff:192.0.2.128", "[REDACTED:ipv6]"),
    ],
)
def test_personal_data(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "17*23+4=395",
        "17 * 23 + 4 = 395",
        "in 2024 and 1999",
        "2024-01-15",
        "2024-01-15T10:30:00Z",
        "2024-01-15 10:30:00.123456+00:00",
        "10:30:00",
        "12:30",
        "01.02.2024 10:30",
        "version 3.11.4",
        "v1.2.3.4",
        "release 10.0.19045",
        "42 and 12345 and 1234567",
        "1 000 000",
        "pi 3.14159265358979",
        "epoch 1700000000 ms 1700000000000",
        "card 4111-1111-1111-1112",
        "ip 256.1.1.1",
        "mac 00:1a:2b:3c:4d:5e",
        "slice a[1::2] and ::1",
        "tokens: 5, max_tokens=256, token_count=3",
        "the Authorization header",
        "Bearer of bad news",
        "bearer instrument",
        "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "std::vector and Foo::bar",
        "DE00 1234 5678 9012 3456 78",
        "",
        "ok",
    ],
)
def test_ordinary_text_is_left_alone(redactor: Redactor, text: str) -> None:
    assert redactor.redact_text(text) == text


def test_known_secrets_longest_first() -> None:
    r = Redactor(["abcd", "abcdefgh", "xyz"])
    assert (
        r.redact_text("v=abcdefgh; w=abcd; xyz") == "v=[REDACTED:secret]; w=[REDACTED:secret]; xyz"
    )


def test_add_secret_and_short_secrets_ignored() -> None:
    r = Redactor()
    assert r.redact_text("the word plum") == "the word plum"
    r.add_secret("plum")
    r.add_secret("ab")
    assert r.redact_text("the word plum, ab") == "the word [REDACTED:secret], ab"


def test_redact_walks_structures(redactor: Redactor) -> None:
    value: dict[str, Any] = {
        "note": "key sk-live-ABCDEF1234567890abcd",
        "password": "anything",
        "x-api-key": 12345,
        "accessToken": {"value": "v", "expires": 3600, "ok": True},
        "nested": [("mail a@b.io", None), 7, 2.5, False],
        "tokens": 5,
        "empty_secret": "",
        "db_password": None,
        "s": "uses s3cr3t-value here",
    }
    assert redactor.redact(value) == {
        "note": "key [REDACTED:api_key]",
        "password": "[REDACTED:secret]",
        "x-api-key": "[REDACTED:secret]",
        "accessToken": {"value": "[REDACTED:secret]", "expires": "[REDACTED:secret]", "ok": True},
        "nested": [("mail [REDACTED:email]", None), 7, 2.5, False],
        "tokens": 5,
        "empty_secret": "",
        "db_password": None,
        "s": "uses [REDACTED:secret] here",
    }


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWD",
        "secret",
        "apiKey",
        "token",
        "refresh_token",
        "Authorization",
        "private-key",
        "client_secret",
        "OPENAI_API_KEY",
    ],
)
def test_secret_looking_keys(redactor: Redactor, key: str) -> None:
    assert redactor.redact({key: "value"}) == {key: "[REDACTED:secret]"}


def test_disabled_passes_everything() -> None:
    r = Redactor(["hunter2-correct-horse"], enabled=False)
    value = {"password": "hunter2-correct-horse", "note": "sk-live-ABCDEF1234567890abcd"}
    assert r.redact(value) is value
    assert r.redact_text("a@b.io") == "a@b.io"


def test_non_str_scalars_pass(redactor: Redactor) -> None:
    for value in (None, True, 4111111111111111, 3.5, b"sk-live-ABCDEF1234567890abcd"):
        assert redactor.redact(value) == value


def test_markers_are_never_redacted_again() -> None:
    r = Redactor(["ACTE", "REDACTED"])
    once = r.redact_text("x [REDACTED:email] ACTE")
    assert once == "x [REDACTED:email] [REDACTED:secret]"
    assert r.redact_text(once) == once


_FRAGMENTS = st.sampled_from(
    [
        "sk-live-",
        "ABCDEF1234567890abcd",
        "AKIA",
        "Bearer ",
        "password=",
        "token: ",
        "'",
        '"',
        "@",
        "example.com",
        "+1 ",
        "555",
        "-",
        "123",
        "4567",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "192.168.",
        "1.1",
        "::",
        "fe80",
        ":",
        ".",
        " ",
        "0",
        "[REDACTED:",
        "]",
        "hunter2-correct-horse",
        "eyJhbGciOiJIUzI1NiJ9.",
        "-----BEGIN PRIVATE KEY-----",
    ]
)
_TEXT = st.one_of(st.text(max_size=40), st.lists(_FRAGMENTS, max_size=12).map("".join))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["note", "password", "apiKey", "n", "tokens"]), children)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_redact_is_idempotent(value: Any) -> None:
    r = Redactor(["hunter2-correct-horse", "ABCDEF12"])
    once = r.redact(value)
    assert r.redact(once) == once


@settings(max_examples=200, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=12).map("".join))
def test_known_secret_never_survives(text: str) -> None:
    r = Redactor(["hunter2-correct-horse"])
    assert "hunter2-correct-horse" not in r.redact_text(text)


_GATE_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(
        _FRAGMENTS | st.sampled_from(["\u212aey", "TO\u212aEN", "Pass", "AUTH", "x"]), max_size=8
    ).map("".join),
)


@settings(max_examples=500, deadline=None)
@given(_GATE_TEXT)
def test_one_search_stands_for_every_detector(text: str) -> None:
    """The fast path: text the combined gate does not match is text no detector applies to."""
    from tether.redact import _ANY_DETECTOR_RE, _DETECTORS, _Scan

    if _ANY_DETECTOR_RE.search(text) is None:
        scan = _Scan(text)
        assert not [d.kind for d in _DETECTORS if d.applies(text, scan)]


def test_texts_remembered_clean_are_bounded_and_forgotten_on_a_new_secret() -> None:
    r = Redactor()
    for i in range(3000):
        assert r.redact_text(f"plain words number {i}") == f"plain words number {i}"
    assert len(r._clean) <= 1024
    assert r.redact_text("mail me at a@b.io") == "mail me at [REDACTED:email]"
    assert "mail me at a@b.io" not in r._clean  # only unchanged texts are remembered
    assert r.redact_text("the plum tree") == "the plum tree"
    r.add_secret("plum tree")
    assert r.redact_text("the plum tree") == "the [REDACTED:secret]"


def test_nothing_to_redact_returns_the_same_object(redactor: Redactor) -> None:
    clean: dict[str, Any] = {"role": "tool", "content": ["plain", ("words", 3)], "n": 4}
    assert redactor.redact(clean) is clean
    dirty: dict[str, Any] = {"keep": ["plain"], "mail": ["a@b.io"], "t": ("x", "a@b.io")}
    out = redactor.redact(dirty)
    assert out == {"keep": ["plain"], "mail": ["[REDACTED:email]"], "t": ("x", "[REDACTED:email]")}
    assert out is not dirty and out["keep"] is dirty["keep"] and dirty["mail"] == ["a@b.io"]
    assert isinstance(out["t"], tuple)
