"""Ingestion batches small files' chunks together; each file still replaces its own chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.memory import SemanticStore, ingest_paths
from tether.memory import ingest as ingest_module

FILES = {
    "a.md": "# Retries\n\nPayments are retried three times with exponential backoff.",
    "b.txt": "The office plants are watered every Tuesday morning by Dana.",
    "c.md": "# Keys\n\nAPI keys are hashed at rest and bound to one tenant.",
}


def _texts(store: SemanticStore) -> list[str]:
    return sorted(h.text for h in store.search("acme", "payments plants keys", k=20))


@pytest.mark.parametrize("batch", [1, 2, 256])
def test_files_batched_together_are_each_stored_and_replaced_on_change(
    store: SemanticStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(ingest_module, "BATCH_CHUNKS", batch)
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in FILES.items():
        (docs / name).write_text(text)
    seen: list[tuple[str, int]] = []
    report = ingest_paths(store, "acme", [docs], on_file=lambda f, n: seen.append((f.name, n)))
    assert (report.files, report.skipped, report.chunks) == (3, 0, 3)
    assert sorted(seen) == [("a.md", 1), ("b.txt", 1), ("c.md", 1)]  # every file reported once
    assert len(_texts(store)) == 3

    (docs / "b.txt").write_text("The office plants are watered every Friday afternoon by Sam.")
    seen.clear()
    again = ingest_paths(store, "acme", [docs], on_file=lambda f, n: seen.append((f.name, n)))
    assert (again.files, again.skipped, again.chunks) == (3, 2, 1)
    assert sorted(name for name, _ in seen) == ["a.md", "b.txt", "c.md"]
    texts = _texts(store)
    assert len(texts) == 3  # the changed file's old chunk is gone, the others untouched
    assert any("Friday" in t for t in texts) and not any("Tuesday" in t for t in texts)


def test_a_file_named_twice_is_stored_once(store: SemanticStore, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in FILES.items():
        (docs / name).write_text(text)
    report = ingest_paths(store, "acme", [docs, docs / "a.md"])  # a folder and a file in it
    assert (report.files, report.skipped, report.chunks) == (4, 1, 3)
    assert len(_texts(store)) == 3
