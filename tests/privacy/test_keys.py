"""Master key loading, data keys, sealing and opening."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from tether.errors import ConfigError
from tether.privacy.keys import Keyring, MasterKey, load_master_key, parse_master_key
from tether.privacy.seal import Sealer, index_text, key_ids, open_text, seal_text
from tether.store import make_engine, migrate
from tether.store.schema import subject_keys

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(eng)
    yield eng  # type: ignore[misc]
    eng.dispose()


@pytest.mark.parametrize("bad", ["", "not base64!!", base64.b64encode(b"short").decode()])
def test_a_malformed_master_key_names_the_variable_and_how_to_make_one(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"TETHER_MASTER_KEY is not a base64-encoded 32-byte"):
        parse_master_key(bad)
    with pytest.raises(ConfigError, match=r"os\.urandom"):
        parse_master_key(bad)


def test_standard_and_urlsafe_base64_give_the_same_key() -> None:
    raw = bytes(range(200, 232))
    std, url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    assert std != url
    assert parse_master_key(std).key == parse_master_key(url).key == raw


def test_without_the_variable_a_0600_key_file_is_made_once(tmp_path: Path) -> None:
    first = load_master_key(None, tmp_path / "home")
    path = tmp_path / "home" / "master.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_master_key(None, tmp_path / "home").key == first.key
    assert load_master_key(KEY, tmp_path / "home").key != first.key  # the variable wins
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_master_key(None, tmp_path / "home")


def test_data_keys_are_wrapped_per_subject_and_never_stored_in_clear(engine: sa.Engine) -> None:
    ring = Keyring(engine, parse_master_key(KEY))
    jane, bob = ring.key_for("t1", "jane"), ring.key_for("t1", "bob")
    assert jane.id != bob.id and jane.key != bob.key
    assert ring.key_for("t1", "jane") == jane  # made once
    assert ring.key_for("t2", "jane").id != jane.id  # tenants never share keys
    with engine.connect() as conn:
        rows = conn.execute(sa.select(subject_keys)).all()
    assert len(rows) == 3
    for row in rows:
        assert jane.key not in row.wrapped and b"jane" not in row.wrapped
        assert "jane" not in row.subject_hash
    assert ring.keys("t2", [jane.id]) == {}  # another tenant's key is not found


def test_another_master_key_is_a_clear_error(engine: sa.Engine) -> None:
    key = Keyring(engine, parse_master_key(KEY)).key_for("t1", "jane")
    other = Sealer(Keyring(engine, MasterKey(bytes(32), "TETHER_MASTER_KEY")))
    with pytest.raises(ConfigError, match="give every process the same TETHER_MASTER_KEY"):
        other.keyring.key_for("t1", "jane")
    with pytest.raises(ConfigError, match="give every process the same TETHER_MASTER_KEY"):
        other.open("t1", [seal_text("mail jane@example.com", key)])


def test_seal_and_open_only_the_pii(engine: sa.Engine) -> None:
    ring = Keyring(engine, parse_master_key(KEY))
    key = ring.key_for("t1", "jane")
    text = "Jane Doe, jane.doe@example.com, card 4111 1111 1111 1111, likes tea"
    sealed = seal_text(text, key)
    assert "jane.doe@example.com" not in sealed and "4111" not in sealed
    assert sealed.startswith("Jane Doe, ⟦enc:v1:") and sealed.endswith(", likes tea")
    assert key_ids(sealed) == {key.id}
    assert index_text(sealed) == "Jane Doe, [email], card [credit_card], likes tea"
    assert open_text(sealed, {key.id: key}) == text
    assert (
        open_text(sealed, {})
        == "Jane Doe, [encrypted:email], card [encrypted:credit_card], likes tea"
    )
    assert seal_text(text, key) != sealed  # random nonces
    tampered = sealed.replace(":email:", ":phone:")  # the kind is authenticated
    assert "[encrypted:phone]" in open_text(tampered, {key.id: key})


def test_the_sealer_makes_no_key_for_text_without_pii(engine: sa.Engine) -> None:
    sealer = Sealer(Keyring(engine, lambda: pytest.fail("no master key needed")))
    assert sealer.seal("t1", "jane", ["nothing personal here"]) == ["nothing personal here"]
    assert sealer.open("t1", ["plain"]) == ["plain"]
