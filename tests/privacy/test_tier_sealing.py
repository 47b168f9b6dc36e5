"""The episodic and profile tiers seal PII with the subject's data key, like semantic chunks:
the stored rows hold tokens, readers get the values, vectors see ``[kind]``, tokens already
sealed (an episode built from a subject run's journal) are kept, and after ``forget`` a copy of
a row opens to nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from tests.conformance.test_forget import HashEmbedder
from tether.memory.episodic import Action, Episode, EpisodicStore, episode_id
from tether.memory.profile import ProfileStore
from tether.privacy.forget import forget_subject
from tether.privacy.keys import Keyring, parse_master_key
from tether.privacy.seal import Sealer, open_text, seal_text
from tether.store import make_engine, migrate

MASTER = parse_master_key(base64.b64encode(bytes(range(50, 82))).decode())
EMAIL, PHONE, IBAN = "jane.doe@example.org", "+44 20 7946 0958", "DE89 3704 0044 0532 0130 00"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'memory.db'}")
    migrate(made)
    yield made
    made.dispose()


@pytest.fixture
def sealer(engine: sa.Engine) -> Sealer:
    return Sealer(Keyring(engine, MASTER))


def _raw(engine: sa.Engine, sql: str) -> list[str]:
    with engine.connect() as conn:
        return [str(v) for row in conn.execute(sa.text(sql)) for v in row]


def _episode(task: str, *, subject: str | None = "jane", run: str = "run_1") -> Episode:
    return Episode(
        id=episode_id("t1", run),
        tenant="t1",
        agent="assistant",
        subject=subject,
        run_id=run,
        task=task,
        actions=(
            Action(tool="send_sms", arguments={"to": PHONE, "n": 2}, ok=True, result_ref="e1"),
        ),
        outcome="success",
        status="succeeded",
        notes=f"answer: wired to {IBAN}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_profile_values_are_sealed_at_rest_and_open_on_read(
    engine: sa.Engine, sealer: Sealer
) -> None:
    store = ProfileStore(engine, sealer=sealer)
    entry = store.set("t1", "jane", "contact", "email", {"work": EMAIL, "kind": "work"})
    assert entry.value == {"work": EMAIL, "kind": "work"} and entry.pii
    store.set("t1", "jane", "preferences", "tone", "brief")
    [raw, plain] = _raw(engine, "SELECT value FROM tether_memory_profile ORDER BY scope")
    assert EMAIL not in raw and "⟦enc:v1:" in json.loads(raw)["work"]
    assert json.loads(raw)["kind"] == "work" and json.loads(plain) == "brief"
    got = store.get("t1", "jane", "contact", "email")
    assert got is not None and got.value == {"work": EMAIL, "kind": "work"}
    assert [e.value for e in store.entries("t1", "jane")] == [got.value, "brief"]
    # a store without the sealer (or anyone with the raw row) sees only the token
    unsealed = ProfileStore(engine).get("t1", "jane", "contact", "email")
    assert unsealed is not None and EMAIL not in json.dumps(unsealed.value)

    forget_subject(engine, MASTER, "t1", "jane", vacuum=False)
    assert store.entries("t1", "jane") == []
    assert sealer.open_values("t1", [json.loads(raw)]) == [
        {"work": "[encrypted:email]", "kind": "work"}
    ]


def test_episodes_are_sealed_at_rest_open_on_read_and_embed_without_pii(
    engine: sa.Engine, sealer: Sealer
) -> None:
    embedder = HashEmbedder()
    store = EpisodicStore(engine, embedder, sealer=sealer)
    assert store.add(_episode(f"mail {EMAIL} the invoice"))
    raw = " ".join(_raw(engine, "SELECT task, actions, notes FROM tether_memory_episodes"))
    for value in (EMAIL, PHONE, IBAN):
        assert value not in raw
    assert raw.count("⟦enc:v1:") == 3
    [found] = store.recent("t1")
    assert found.task == f"mail {EMAIL} the invoice" and found.notes.endswith(IBAN)
    assert found.actions[0].arguments == {"to": PHONE, "n": 2}
    assert store.get("t1", found.id) == found
    [hit] = store.recall("t1", "invoice", allow_pii=True)
    assert hit.episode == found
    # the vector was made from the text with tokens as [kind]: the address is not in it
    with engine.connect() as conn:
        blob = conn.scalar(sa.text("SELECT embedding FROM tether_memory_episodes"))
    stored = np.frombuffer(blob, dtype=np.float32)
    text = "mail [email] the invoice\ntools: send_sms\nanswer: wired to [iban]"
    expected = embedder.embed([text])
    assert np.allclose(stored, expected[0])
    assert not np.allclose(stored, embedder.embed([found.embed_text])[0])


def test_tokens_already_sealed_are_kept_and_forget_closes_them(
    engine: sa.Engine, sealer: Sealer
) -> None:
    key = sealer.keyring.key_for("t1", "jane")  # the key a subject run seals its journal with
    journaled = seal_text(f"mail {EMAIL} the invoice", key)
    store = EpisodicStore(engine, HashEmbedder(), sealer=sealer)
    store.add(_episode(journaled))
    store.add(_episode(f"call bob at {PHONE}", subject=None, run="run_2"))  # the tenant's key
    tasks = _raw(engine, "SELECT task FROM tether_memory_episodes ORDER BY run_id")
    assert tasks[0] == journaled  # not sealed twice (its base64 can look like an API key)
    assert PHONE not in tasks[1] and "⟦enc:v1:" in tasks[1]
    assert {e.task for e in store.recent("t1")} == {
        f"mail {EMAIL} the invoice",
        f"call bob at {PHONE}",
    }

    forget_subject(engine, MASTER, "t1", "jane", vacuum=False)
    [left] = store.recent("t1")
    assert left.task == f"call bob at {PHONE}"  # other subjects are unaffected
    assert sealer.open("t1", [journaled]) == ["mail [encrypted:email] the invoice"]
    assert open_text(journaled, {key.id: key}) == f"mail {EMAIL} the invoice"  # teeth
