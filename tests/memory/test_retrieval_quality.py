"""Acceptance 1: over a real corpus (tether's own docs, frozen under tests/data/corpus) and 58
labelled questions, hybrid retrieval beats vector-only and full-text-only on recall@5 and MRR.
The figures themselves are in bench/results/memory.json (bench/memory.py)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tether.memory import LocalEmbedder, SemanticStore, ingest_paths
from tether.memory.evaluate import evaluate, load_cases
from tether.store.schema import memory_chunks

DATA = Path(__file__).resolve().parents[1] / "data"


def test_hybrid_beats_vector_and_fulltext(engine: sa.Engine, embedder: LocalEmbedder) -> None:
    store = SemanticStore(engine, embedder, cache_ttl_s=0)
    report = ingest_paths(store, "eval", [DATA / "corpus"])
    assert report.files == 4 and report.chunks > 100
    cases = load_cases(DATA / "memory_eval.json")
    assert len(cases) >= 50
    with engine.connect() as conn:
        texts = list(conn.scalars(sa.select(memory_chunks.c.text)))
    # every label is findable: some chunk contains one of its substrings
    assert [c.question for c in cases if not any(c.matches(t) for t in texts)] == []
    got = {m: evaluate(store, "eval", cases, mode=m) for m in ("vector", "fulltext", "hybrid")}
    hybrid, vector, fulltext = got["hybrid"], got["vector"], got["fulltext"]
    assert hybrid.recall_at_k > max(vector.recall_at_k, fulltext.recall_at_k), got
    assert hybrid.mrr > max(vector.mrr, fulltext.mrr), got
    assert hybrid.recall_at_k >= 0.8, got
