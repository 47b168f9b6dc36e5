"""Forget-me on both backends: memory rows and a run's journal about a subject, then forget.

On PostgreSQL the rows go by plain DELETE (their dead tuples wait for VACUUM, see the README);
what is checked is every table's content, base64 decoded: no plaintext of the subject, their
sealed tokens do not open, retrieval finds nothing of theirs, the other subject still reads.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from tests.agent_helpers import agent, make_runtime, scripted
from tests.privacy.scan import leaks, pg_values, sqlite_values, tokens
from tests.privacy.test_subject_runs import EMAIL, IBAN, TOOLS
from tether.memory import Filters, MemoryItem, SemanticStore
from tether.memory._bert import F32
from tether.privacy.forget import forget_subject
from tether.privacy.keys import Keyring, parse_master_key
from tether.privacy.seal import Sealer
from tether.store import make_engine, migrate
from tether.testing.scripted import answer, call
from tether.types import RunStatus

KEY = base64.b64encode(bytes(range(50, 82))).decode()
MASTER = parse_master_key(KEY)
JANE = (EMAIL, IBAN, "Janet Quixwort")  # the run's tool returns EMAIL and IBAN too
BOB = ("bob.fennimore@example.org", "FR14 2004 1010 0505 0001 3M02 606", "Bob Fennimore")


class HashEmbedder:
    """Bag of words hashed into 64 dimensions: deterministic, enough to rank by shared words."""

    model = "test:hash64"

    def embed(self, texts: Sequence[str]) -> F32:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
            out[row] /= max(float(np.linalg.norm(out[row])), 1e-9)
        return out


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    made = make_engine(db_url)
    migrate(made)
    yield made
    made.dispose()


def _values(engine: sa.Engine, db_url: str) -> list[tuple[str, str]]:
    if engine.dialect.name == "postgresql":
        return list(pg_values(engine, ("public",)))
    return list(sqlite_values(Path(db_url.removeprefix("sqlite:///"))))


async def _run(tmp_path: Path, db_url: str, subject: str) -> None:
    """A run about ``subject`` whose tool returns PII (free text such as names is not detected,
    so it is planted in memory only: see the README on what a run's journal keeps)."""
    model = scripted(call("lookup_customer", name="the customer"), answer("known"))
    rt = make_runtime(
        tmp_path, model, db=db_url, master_key=KEY, approved_labels={"scripted": ["pii"]}
    )
    try:
        result = await rt.run(agent(*TOOLS), "look the customer up", subject=subject)
        assert result.status is RunStatus.SUCCEEDED, result.reason
    finally:
        rt.close()


async def test_forget_a_subject_on_every_backend(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SemanticStore(engine, HashEmbedder(), sealer=Sealer(Keyring(engine, MASTER)))
    for subject, (email, iban, name) in (("jane", JANE), ("bob", BOB)):
        text = f"{name} writes from {email} and pays from {iban}"
        store.add("default", [MemoryItem(text=text, subject=subject, source="crm")])
    await _run(tmp_path, db_url, "jane")
    jane_key = Keyring(engine, MASTER).key_for("default", "jane")
    hits = store.search("default", "Janet Quixwort writes", mode="vector", k=2)
    assert {h.subject for h in hits} == {"jane", "bob"}
    assert any(JANE[0] in h.text for h in hits)

    report = forget_subject(engine, MASTER, "default", "jane", vacuum=False)
    assert report.counts["tether_memory_chunks"] == 1 and report.keys == 1

    values = _values(engine, db_url)
    assert leaks(values, JANE) == []
    assert ("tether_memory_chunks", BOB[2]) in {
        (t.split(".")[-1], v) for t, v in leaks(values, [BOB[2]])
    }
    found = [t for _, text in values for t in tokens(text)]
    jane_tokens = [t for t in found if jane_key.id in t]
    assert jane_tokens  # the run's journal keeps them, sealed
    sealer = Sealer(Keyring(engine, MASTER))
    assert all(o.startswith("[encrypted:") for o in sealer.open("default", jane_tokens))
    assert BOB[0] in sealer.open("default", [t for t in found if jane_key.id not in t])

    hits = store.search("default", "Janet Quixwort writes", mode="vector", k=5)
    assert [h.subject for h in hits] == ["bob"] and BOB[0] in hits[0].text
    assert store.search("default", "Janet", mode="vector", filters=Filters(subject="jane")) == []
