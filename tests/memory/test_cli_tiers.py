"""`tether memory profile|episodes|compact` as a user runs them: a real subprocess on a real
SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.memory.test_cli_memory import tether
from tether.memory.episodic import Episode, EpisodicStore, episode_id
from tether.store import make_engine, migrate


def test_profile_set_get_list_delete(tmp_path: Path) -> None:
    out = tether(tmp_path, "profile", "set", "alice", "preferences", "format", "PDF",
                 "--reason", "asked in chat", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    entry = json.loads(out.stdout)
    assert entry["value"] == "PDF" and entry["trust"] == "user" and entry["source"] == "cli"
    assert entry["reason"] == "asked in chat"
    tether(tmp_path, "profile", "set", "alice", "settings", "limits", '{"max": 3}')
    got = tether(tmp_path, "profile", "get", "alice", "settings", "limits")
    assert got.returncode == 0 and json.loads(got.stdout) == {"max": 3}  # JSON values stay JSON
    listed = tether(tmp_path, "profile", "list", "alice", "--scope", "preferences", "--json")
    assert [e["key"] for e in json.loads(listed.stdout)] == ["format"]
    assert tether(tmp_path, "profile", "delete", "alice", "settings", "limits").stdout.strip() == (
        "deleted"
    )
    missing = tether(tmp_path, "profile", "get", "alice", "settings", "limits")
    assert missing.returncode == 1 and "has no settings.limits" in missing.stderr
    bad = tether(tmp_path, "profile", "set", "alice", "bad scope", "k", "v")
    assert bad.returncode == 64 and "'bad scope'" in bad.stderr and "letters" in bad.stderr


def test_episodes_and_compact(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'home' / 'tether.db'}")
    migrate(engine)
    store = EpisodicStore(engine)
    for n in range(3):
        store.add(
            Episode(
                id=episode_id("acme", f"run_{n}"),
                tenant="acme",
                agent="assistant",
                subject="alice",
                run_id=f"run_{n}",
                task=f"task number {n}",
                actions=(),
                outcome="success",
                status="succeeded",
                notes="answer: ok",
                created_at=datetime(2026, 1, 1 + n, tzinfo=UTC),
            )
        )
    engine.dispose()
    listed = tether(tmp_path, "episodes", "--agent", "assistant", "--json")
    assert [e["run_id"] for e in json.loads(listed.stdout)] == ["run_2", "run_1", "run_0"]
    done = tether(tmp_path, "compact", "--max-episodes", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["trimmed"]["episodic"]) == sorted(
        episode_id("acme", f"run_{n}") for n in (0, 1)
    )
    human = tether(tmp_path, "episodes")
    assert "task number 2" in human.stdout and "task number 1" not in human.stdout
