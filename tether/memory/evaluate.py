"""Retrieval evaluation: recall@k and MRR of a store's search over labelled questions.

A case is a question and the distinctive substrings of its relevant passage(s); a hit is
relevant when its text contains one of them (whitespace folded), so labels survive changes to
chunking. ``recall@k`` is the share of questions with a relevant hit in the top k; MRR is the
mean of 1 / rank of the first relevant hit (0 when none is in the top ``depth``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tether.memory.search import Mode
from tether.memory.store import Hit, SemanticStore


@dataclass(frozen=True, kw_only=True)
class EvalCase:
    question: str
    relevant: tuple[str, ...]

    def matches(self, text: str) -> bool:
        folded = _fold(text)
        return any(_fold(s) in folded for s in self.relevant)


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    mode: Mode
    recall_at_k: float
    mrr: float
    k: int
    cases: int
    ranks: tuple[int | None, ...]  # rank of the first relevant hit per case

    def to_json(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "k": self.k,
            "cases": self.cases,
            f"recall_at_{self.k}": self.recall_at_k,
            "mrr": self.mrr,
        }


def _fold(text: str) -> str:
    return " ".join(text.split())


def load_cases(path: Path) -> list[EvalCase]:
    """Cases from a JSON file ``{"cases": [{"q": ..., "relevant": [...]}, ...]}``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [EvalCase(question=c["q"], relevant=tuple(c["relevant"])) for c in data["cases"]]


def first_relevant(case: EvalCase, hits: Sequence[Hit]) -> int | None:
    return next((n for n, h in enumerate(hits, start=1) if case.matches(h.text)), None)


def evaluate(
    store: SemanticStore,
    tenant: str,
    cases: Sequence[EvalCase],
    *,
    mode: Mode,
    k: int = 5,
    depth: int = 10,
) -> EvalResult:
    """Search every case's question and score the rankings."""
    ranks = tuple(
        first_relevant(case, store.search(tenant, case.question, k=depth, mode=mode))
        for case in cases
    )
    recall = sum(1 for r in ranks if r is not None and r <= k) / len(cases)
    mrr = sum(1.0 / r for r in ranks if r is not None) / len(cases)
    return EvalResult(mode=mode, recall_at_k=recall, mrr=mrr, k=k, cases=len(cases), ranks=ranks)
