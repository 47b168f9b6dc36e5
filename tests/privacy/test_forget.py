"""Acceptance 2 on SQLite: after ``tether memory forget``, nothing of the subject is readable.

Two subjects' PII is planted through the CLI (memory writes, and durable runs about each
subject whose tool returns it); then one is forgotten. The raw bytes of the database and its
WAL (free pages included), every table (FTS5 shadow tables and DBOS's too, base64 decoded) are
scanned for the planted values in clear and in base64; the sealed tokens left in the journal do
not open any more; retrieval returns nothing of theirs; the other subject is untouched.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

from tests.privacy.scan import leaks, raw_leaks, sqlite_values, tokens
from tests.test_durable import AGENT, Env
from tether.privacy.checksums import luhn_ok
from tether.privacy.keys import Keyring, parse_master_key
from tether.privacy.seal import Sealer, open_text
from tether.store import make_engine

KEY = base64.urlsafe_b64encode(bytes(range(100, 132))).decode()
APPROVED = json.dumps({"python:tests.durable_models:model": ["pii"]})


def card(prefix: str) -> str:
    digits = next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))
    return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


JANE = {
    "email": "jane.quixwort@example.com",
    "card": card("453914880343646"),
    "iban": "DE89 3704 0044 0532 0130 00",
    "name": "Janet Quixwort",
}
BOB = {
    "email": "bob.fennimore@example.org",
    "card": card("550000555555555"),
    "iban": "GB82 WEST 1234 5698 7654 32",
    "name": "Bob Fennimore",
}


def _plant(env: Env, subject: str, who: dict[str, str]) -> str:
    """Memory items about ``subject`` and a durable run about them; returns the run id."""
    items = [
        f"{who['name']} ({who['email']}) pays by card {who['card']} from IBAN {who['iban']}.",
        f"{who['name']} prefers window seats and vegetarian meals.",
    ]
    for text in items:
        out = env.tether("memory", "add", text, "--subject", subject, "--json")
        assert out.returncode == 0, out.stderr[-2000:]
    plant = f"mail {who['email']} card {who['card']} iban {who['iban']}"
    out = env.tether(
        "run", "--agent", AGENT, "bump the counter", "--json",
        TETHER_SUBJECT=subject, TETHER_TEST_PLANT=plant, TETHER_APPROVED_LABELS=APPROVED,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return str(json.loads(out.stdout)["run_id"])


def _search(env: Env, query: str, *args: str) -> list[dict[str, object]]:
    out = env.tether("memory", "search", query, "--json", "--k", "10", *args)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _raw(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob("tether.db*")))


def _workflows(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT workflow_uuid FROM workflow_status")]
    finally:
        conn.close()


def test_forget_leaves_nothing_of_the_subject_and_keeps_the_other(tmp_path: Path) -> None:
    env = Env(tmp_path, TETHER_MASTER_KEY=KEY, TETHER_TEST_STEPS="2")
    jane_run, bob_run = _plant(env, "jane", JANE), _plant(env, "bob", BOB)
    db = tmp_path / "home" / "tether.db"
    engine = make_engine(f"sqlite:///{db}")
    ring = Keyring(engine, parse_master_key(KEY))
    old_key = ring.key_for("default", "jane")  # what an attacker would need
    # Reading the files below closes descriptors of the database, which drops every POSIX
    # lock this process holds on it: no connection of ours may be open meanwhile.
    engine.dispose()
    try:
        before = _raw(db)
        assert b"quixwort" in before.lower()  # the name is indexed (FTS5) and stored
        assert raw_leaks(before, [JANE["email"], JANE["card"], JANE["iban"]]) == []  # sealed
        hits = _search(env, "Janet Quixwort card", "--subject", "jane")
        assert len(hits) == 2 and any(JANE["email"] in str(h["text"]) for h in hits)
        assert {w.split(":")[0] for w in _workflows(db)} == {jane_run, bob_run}

        out = env.tether("memory", "forget", "jane", "--json", "--by", "dpo")
        assert out.returncode == 0, out.stderr[-2000:]
        report = json.loads(out.stdout)
        assert report["counts"]["tether_memory_chunks"] == 2
        assert report["counts"]["tether_memory_fts"] == 2
        assert report["counts"]["dbos"] > 0 and report["keys"] == 1
        assert report["compacted"] == ["optimize tether_memory_fts", "vacuum", "wal truncated"]

        # nothing in the file or its WAL, in clear or base64, free pages included
        after = _raw(db)
        jane_values = list(JANE.values())
        assert raw_leaks(after, jane_values) == []
        assert b"quixwort" not in after.lower()
        assert leaks(sqlite_values(db), jane_values) == []
        # the scan has teeth: the other subject's name (not PII, stored in clear) is found
        assert raw_leaks(after, [BOB["name"]]) == [BOB["name"]]
        assert ("tether_memory_chunks", BOB["name"]) in leaks(sqlite_values(db), [BOB["name"]])

        engine = make_engine(f"sqlite:///{db}")
        ring = Keyring(engine, parse_master_key(KEY))
        # the journal keeps jane's run, sealed: her tokens opened with the destroyed key would
        # give her values back, and with what the store has they open to nothing
        texts = [text for _, text in sqlite_values(db)]
        jane_tokens = [t for text in texts for t in tokens(text) if old_key.id in t]
        assert jane_tokens
        assert {open_text(t, {old_key.id: old_key}) for t in jane_tokens} >= {JANE["email"]}
        sealer = Sealer(ring)
        assert all(o.startswith("[encrypted:") for o in sealer.open("default", jane_tokens))
        bob_tokens = [t for text in texts for t in tokens(text) if old_key.id not in t]
        assert set(sealer.open("default", bob_tokens)) >= {BOB["email"], BOB["card"]}
        engine.dispose()

        # retrieval: nothing of jane's; bob's items still decrypt
        assert _search(env, "Janet Quixwort card", "--subject", "jane") == []
        hits = _search(env, "Janet Quixwort pays by card")
        assert {h["subject"] for h in hits} == {"bob"}
        assert any(BOB["email"] in str(h["text"]) for h in hits)

        # DBOS forgot jane's run, not bob's; the forget log names no one
        assert {w.split(":")[0] for w in _workflows(db)} == {bob_run}
        conn = sqlite3.connect(db)
        try:
            logged = conn.execute(
                "SELECT subject_hash, counts, by FROM tether_forget_log"
            ).fetchall()
        finally:
            conn.close()
        assert len(logged) == 1 and logged[0][2] == "dpo"
        assert "jane" not in str(logged[0]).lower()
        assert json.loads(logged[0][1])["tether_subject_keys"] == 1
    finally:
        engine.dispose()
    events = env.events(jane_run)  # the run's journal is still readable, as tokens
    assert events and JANE["email"] not in json.dumps(events)
    again = env.tether("memory", "forget", "jane", "--json")
    assert json.loads(again.stdout)["keys"] == 0  # forgetting twice is harmless
