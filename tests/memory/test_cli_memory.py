"""`tether memory` as a user runs it: a real subprocess on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def tether(tmp_path: Path, *args: str, tenant: str = "acme") -> subprocess.CompletedProcess[str]:
    env = os.environ | {"TETHER_HOME": str(tmp_path / "home"), "TETHER_TENANT": tenant}
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", "memory", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )


def test_ingest_add_search(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ops.md").write_text(
        "# Ops\n\n## Backups\n\nThe database is backed up nightly at 02:00 UTC.\n\n"
        "## Deploys\n\nDeploys go out on Tuesdays after the review meeting.\n"
    )
    (docs / "team.html").write_text("<h1>Team</h1><p>Carol leads the payments squad.</p>")
    out = tether(tmp_path, "ingest", str(docs), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"files": 2, "skipped": 0, "chunks": 3}
    again = tether(tmp_path, "ingest", str(docs), "--json")
    assert json.loads(again.stdout) == {"files": 2, "skipped": 2, "chunks": 0}

    added = tether(tmp_path, "add", "Dave prefers tea", "--subject", "dave", "--json")
    assert added.returncode == 0, added.stderr and len(json.loads(added.stdout)["id"]) == 32

    found = tether(tmp_path, "search", "when are backups taken?", "--k", "2", "--json")
    hits = json.loads(found.stdout)
    assert hits[0]["text"].startswith("## Backups") and hits[0]["heading"] == ["Ops", "Backups"]
    assert hits[0]["source"].endswith("ops.md") and hits[0]["origin"] == "retrieval"
    full = tether(tmp_path, "search", "payments squad", "--mode", "fulltext", "--json")
    assert [h["source"].rsplit("/", 1)[-1] for h in json.loads(full.stdout)] == ["team.html"]
    human = tether(tmp_path, "search", "tea", "--subject", "dave")
    assert "Dave prefers tea" in human.stdout and "ops.md" not in human.stdout

    # another tenant sees none of it
    other = tether(tmp_path, "search", "backups", "--json", tenant="globex")
    assert other.returncode == 0 and json.loads(other.stdout) == []


def test_usage_errors_exit_64_with_one_line(tmp_path: Path) -> None:
    bad_mode = tether(tmp_path, "search", "x", "--mode", "fuzzy")
    assert bad_mode.returncode == 64 and "--mode is 'fuzzy'" in bad_mode.stderr
    missing = tether(tmp_path, "ingest", str(tmp_path / "nope"))
    assert missing.returncode == 64 and "no such file or folder" in missing.stderr
    bad_trust = tether(tmp_path, "add", "x", "--trust", "admin")
    assert bad_trust.returncode == 64 and "--trust is 'admin'" in bad_trust.stderr
    bad_model = subprocess.run(
        [sys.executable, "-m", "tether.cli", "memory", "search", "x"],
        capture_output=True,
        text=True,
        env=os.environ | {"TETHER_HOME": str(tmp_path / "h"), "TETHER_EMBED_MODEL": "hub:x"},
        timeout=120,
        check=False,
    )
    assert bad_model.returncode == 64 and "TETHER_EMBED_MODEL" in bad_model.stderr
