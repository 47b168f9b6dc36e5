"""Ingestion: files → text → chunks → vectors → the semantic store, in batches.

A file whose chunks are all stored already (same ids: same text, offsets, scope) is skipped
without embedding; a changed file replaces its old chunks. Small files' chunks are embedded and
stored together, up to ``BATCH_CHUNKS`` at a time (one write transaction, replacing each file's
old chunks), so that the embedder gets full batches to share out across cores: the 4-file
corpus of bench/memory.py went from 29 batches to 23.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tether.memory.chunk import chunk_text
from tether.memory.extract import find_documents, read_document
from tether.memory.search import Trust
from tether.memory.store import MemoryItem, SemanticStore


@dataclass(frozen=True, kw_only=True)
class IngestReport:
    files: int
    skipped: int  # unchanged since the last ingest
    chunks: int

    def to_json(self) -> dict[str, int]:
        return {"files": self.files, "skipped": self.skipped, "chunks": self.chunks}


Progress = Callable[[Path, int], None]  # (file done, its chunk count)
BATCH_CHUNKS = 256  # chunks of several files embedded and stored at once


def document_items(
    text: str,
    source: str,
    *,
    scope: str = "default",
    subject: str | None = None,
    trust: Trust = "user",
    max_chars: int = 500,
    overlap_chars: int = 100,
) -> list[MemoryItem]:
    """The memory items of one document's chunks."""
    return [
        MemoryItem(
            text=c.text,
            source=source,
            heading=c.heading,
            start=c.start,
            end=c.end,
            scope=scope,
            subject=subject,
            trust=trust,
        )
        for c in chunk_text(text, source=source, max_chars=max_chars, overlap_chars=overlap_chars)
    ]


def ingest_paths(
    store: SemanticStore,
    tenant: str,
    paths: Iterable[Path],
    *,
    scope: str = "default",
    subject: str | None = None,
    trust: Trust = "user",
    max_chars: int = 500,
    overlap_chars: int = 100,
    on_file: Progress | None = None,
) -> IngestReport:
    """Ingest every supported file under ``paths``; ``on_file`` is called after each one is
    stored (or found unchanged)."""
    files = skipped = count = pending_chunks = 0
    pending: list[tuple[Path, list[MemoryItem]]] = []
    seen: set[str] = set()  # sources met in this call: a file named twice is stored once

    def flush() -> None:
        nonlocal count, pending_chunks
        items = [i for _, file_items in pending for i in file_items]
        if items:
            store.add(tenant, items, replace_source=True)
            count += len(items)
        for file, file_items in pending:
            if on_file is not None:
                on_file(file, len(file_items))
        pending.clear()
        pending_chunks = 0

    for path in paths:
        for file in find_documents(path):
            source = str(file)
            items = document_items(
                read_document(file),
                source,
                scope=scope,
                subject=subject,
                trust=trust,
                max_chars=max_chars,
                overlap_chars=overlap_chars,
            )
            files += 1
            ids = {i.item_id(tenant) for i in items}
            if source in seen or (items and ids == store.source_ids(tenant, scope, source)):
                skipped += 1
                if on_file is not None:
                    on_file(file, len(items))
                continue
            seen.add(source)
            pending.append((file, items))
            pending_chunks += len(items)
            if pending_chunks >= BATCH_CHUNKS:
                flush()
    flush()
    return IngestReport(files=files, skipped=skipped, chunks=count)
