"""The semantic store with a sealer: PII encrypted at rest, searchable text around it, forget."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conformance.test_forget import HashEmbedder
from tether.memory import Filters, MemoryItem, SemanticStore
from tether.privacy.forget import SubjectRows, forget_subject
from tether.privacy.keys import Keyring, parse_master_key
from tether.privacy.seal import Sealer
from tether.store import make_engine, migrate
from tether.store.engine import write_transaction

MASTER = parse_master_key(base64.b64encode(bytes(range(7, 39))).decode())
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'memory.db'}")
    migrate(made)
    yield made
    made.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> SemanticStore:
    return SemanticStore(engine, HashEmbedder(), sealer=Sealer(Keyring(engine, MASTER)))


def test_pii_is_sealed_at_rest_and_the_rest_stays_searchable(
    store: SemanticStore, engine: sa.Engine
) -> None:
    item = MemoryItem(
        text="Invoice for Jane: mail jane@example.com, IBAN DE89 3704 0044 0532 0130 00",
        heading=("Customers", "jane@example.com"),
        subject="jane",
    )
    [item_id] = store.add("t1", [item])
    assert store.add("t1", [item]) == [item_id]  # the id is the plain item's: still idempotent
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT text, heading FROM tether_memory_chunks")).one()
        fts = conn.execute(sa.text("SELECT heading, text FROM tether_memory_fts")).one()
    assert "jane@example.com" not in row.text + row.heading and "⟦enc:v1:" in row.text
    assert fts.text == "Invoice for Jane: mail [email], IBAN [iban]"
    assert fts.heading == "Customers [email]"
    [hit] = store.search("t1", "invoice Jane", mode="fulltext")
    assert hit.text == item.text and hit.heading == item.heading  # opened on read
    assert store.search("t1", "invoice Jane", mode="fulltext") == [hit]  # from the cache
    assert store.search("t2", "invoice Jane", mode="fulltext") == []  # tenants stay apart


def test_a_forget_empties_the_cache_of_a_live_store_too(store: SemanticStore) -> None:
    store.add("t1", [MemoryItem(text="Jane's number is +44 20 7946 0958", subject="jane")])
    store.add("t1", [MemoryItem(text="Bob's number is +44 20 7946 0000", subject="bob")])
    assert len(store.search("t1", "number", mode="fulltext")) == 2  # now cached
    forget_subject(store.engine, MASTER, "t1", "jane", vacuum=False)
    [hit] = store.search("t1", "number", mode="fulltext")
    assert hit.subject == "bob" and "+44 20 7946 0000" in hit.text
    assert store.search("t1", "number", filters=Filters(subject="jane")) == []


def test_tables_join_the_forget_registry(engine: sa.Engine) -> None:
    """A memory tier's table plugs in with one SubjectRows line (mem tiers add theirs)."""
    with write_transaction(engine) as conn:
        conn.exec_driver_sql(
            "CREATE TABLE notes (id TEXT PRIMARY KEY, tenant TEXT, subject TEXT, body TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO notes VALUES ('1','t1','jane','a'),('2','t1','bob','b'),"
            "('3','t2','jane','c')"
        )
    report = forget_subject(
        engine, MASTER, "t1", "jane", tables=[SubjectRows(table="notes")], vacuum=False
    )
    assert report.counts == {"notes": 1, "dbos": 0, "tether_subject_runs": 0}
    with engine.connect() as conn:
        left = conn.execute(sa.text("SELECT id FROM notes ORDER BY id")).scalars().all()
    assert left == ["2", "3"]


@pytest.mark.parametrize("value", ["short", "!!!!"])
def test_the_cli_names_a_malformed_master_key(tmp_path: Path, value: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tether.cli", "memory", "forget", "jane"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
        | {"TETHER_HOME": str(tmp_path / "home"), "TETHER_MASTER_KEY": value},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert out.returncode == 64
    assert "TETHER_MASTER_KEY is not a base64-encoded 32-byte key" in out.stderr
    assert "os.urandom(32)" in " ".join(out.stderr.split())


def test_the_cli_forget_reports_json(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TETHER_HOME": str(tmp_path / "h")}
    out = subprocess.run(
        [sys.executable, "-m", "tether.cli", "memory", "forget", "nobody", "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["keys"] == 0 and report["counts"]["tether_memory_chunks"] == 0
    assert (tmp_path / "h" / "master.key").stat().st_mode & 0o777 == 0o600
