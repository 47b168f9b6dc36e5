"""Tool retrieval: rank tools for a goal by lexical similarity, so a model sees only a few.

Pure functions. The score of a tool is BM25 over stemmed, synonym-expanded words of its name,
description and parameters (the name counted twice), normalized to [0, 1], plus a smaller share
of character-trigram overlap that catches partial words and typos. Ties go to the name.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from tether.tools.contract import ToolContract

_K1 = 1.2
_B = 0.75
_TRIGRAM_WEIGHT = 0.35
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_STOPWORDS = frozenset(
    "a an the of to in on for and or is are be by with at from it its this that as me my "
    "what which who how please can could would you your i we our do does give tell show "
    "get use using into about".split()
)
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    (
        "compute",
        "calculate",
        "calculator",
        "math",
        "arithmetic",
        "multiply",
        "plus",
        "minus",
        "sum",
        "add",
        "divide",
        "subtract",
        "product",
        "square",
        "root",
        "sqrt",
        "evaluate",
        "expression",
        "number",
        "times",
    ),
    (
        "date",
        "time",
        "today",
        "clock",
        "day",
        "now",
        "current",
        "datetime",
        "weekday",
        "timezone",
        "hour",
        "tomorrow",
        "yesterday",
    ),
    ("file", "read", "open", "content", "text", "document", "path"),
    ("list", "folder", "directory", "dir", "ls", "entry"),
    ("weather", "forecast", "temperature", "rain", "climate"),
    ("email", "mail", "send", "message", "inbox"),
    ("search", "find", "lookup", "query", "web", "google"),
    ("translate", "translation", "language"),
    ("convert", "conversion", "currency", "exchange", "unit"),
)


_SUFFIXES = (
    ("ies", "y"),
    ("sses", "ss"),
    ("xes", "x"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("ing", ""),
    ("ed", ""),
    ("s", ""),
)


def _stem(word: str) -> str:
    """Light stemming: plural ``s``/``es``/``ies``, ``ing`` and ``ed`` (stems of 3+ letters)."""
    if word.endswith(("ss", "us", "is")):
        return word
    for suffix, keep in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + keep
    return word


_SYNONYMS: dict[str, str] = {
    _stem(word): f"#{group[0]}" for group in _SYNONYM_GROUPS for word in group
}


# An operator between two operands reads as its word: "12 * 12" asks to multiply.
_OPERATOR = re.compile(r"(?<=[\d)])\s*(\*\*|[*/+^-])\s*(?=[\d(.])")
_OPERATOR_WORDS = {
    "*": "multiply",
    "/": "divide",
    "+": "plus",
    "-": "minus",
    "**": "power",
    "^": "power",
}


def _operators_as_words(text: str) -> str:
    return _OPERATOR.sub(lambda m: f" {m.group(1)} {_OPERATOR_WORDS[m.group(1)]} ", text)


def tokenize(text: str) -> list[str]:
    """Lower-case stemmed words without stop words (camelCase and snake_case are split).

    Arithmetic operators between operands count as words (``*`` as "multiply").
    """
    text = _operators_as_words(text)
    words = _WORD.findall(_CAMEL.sub(" ", text).lower().replace("_", " "))
    return [_stem(w) for w in words if w not in _STOPWORDS]


def _expand(tokens: Iterable[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        out.append(token)
        tag = _SYNONYMS.get(token)
        if tag is not None:
            out.append(tag)
    return out


def _trigrams(tokens: Iterable[str]) -> set[str]:
    grams: set[str] = set()
    for token in tokens:
        if token.startswith("#"):
            continue
        padded = f" {token} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def tool_text(contract: ToolContract) -> str:
    """The words that describe a tool: name (twice), description, parameter names and docs."""
    parts = [contract.name, contract.name, contract.description]
    properties: Any = contract.input_schema.get("properties", {})
    if isinstance(properties, dict):
        for name, schema in sorted(properties.items()):
            parts.append(str(name))
            if isinstance(schema, dict) and isinstance(schema.get("description"), str):
                parts.append(schema["description"])
    return " ".join(parts)


def _bm25(query: list[str], docs: list[list[str]]) -> list[float]:
    count = len(docs)
    avg_len = sum(len(d) for d in docs) / count or 1.0
    df = Counter(term for doc in docs for term in set(doc))
    scores: list[float] = []
    for doc in docs:
        tf = Counter(doc)
        norm = _K1 * (1 - _B + _B * len(doc) / avg_len)
        score = 0.0
        for term in set(query):
            if tf[term]:
                idf = math.log(1 + (count - df[term] + 0.5) / (df[term] + 0.5))
                score += idf * tf[term] * (_K1 + 1) / (tf[term] + norm)
        scores.append(score)
    return scores


def score_tools(query: str, contracts: Sequence[ToolContract]) -> dict[str, float]:
    """Each tool's relevance to ``query`` (higher is better)."""
    if not contracts:
        return {}
    query_tokens = _expand(tokenize(query))
    docs = [_expand(tokenize(tool_text(c))) for c in contracts]
    lexical = _bm25(query_tokens, docs)
    top = max(lexical) or 1.0
    query_grams = _trigrams(query_tokens)
    scores: dict[str, float] = {}
    for contract, doc, raw in zip(contracts, docs, lexical, strict=True):
        doc_grams = _trigrams(doc)
        overlap = len(query_grams & doc_grams) / math.sqrt(len(query_grams) * len(doc_grams) or 1)
        scores[contract.name] = raw / top + _TRIGRAM_WEIGHT * overlap
    return scores


def preselect(query: str, contracts: Sequence[ToolContract], k: int) -> list[str]:
    """The names of the ``k`` tools most relevant to ``query``, best first (ties by name)."""
    if k <= 0:
        return []
    scores = score_tools(query, contracts)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [name for name, _ in ranked[:k]]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_ALWAYS = re.compile(r"\s*;\s*|,?\s+and\s+then\s+|,?\s+then\s+", re.IGNORECASE)
_AND = re.compile(r",?\s+and\s+", re.IGNORECASE)
_MIN_WORDS = 2


def split_subgoals(goal: str) -> list[str]:
    """Split a goal into clauses (sentences, ``;``, ``then``, and ``and`` between clauses)."""
    clauses: list[str] = []
    for sentence in _SENTENCE_END.split(goal):
        for part in _ALWAYS.split(sentence):
            clauses.extend(_split_and(part))
    cleaned = [_clean(c) for c in clauses]
    return [c for c in cleaned if c]


def _split_and(text: str) -> list[str]:
    """Split on ``and`` only where both sides are clauses of two or more words."""
    pieces = _AND.split(text)
    out = [pieces[0]]
    for piece in pieces[1:]:
        if _words(out[-1]) >= _MIN_WORDS and _words(piece) >= _MIN_WORDS:
            out.append(piece)
        else:
            out[-1] = f"{out[-1]} and {piece}"
    return out


def _words(text: str) -> int:
    return len(text.split())


def _clean(text: str) -> str:
    text = text.strip().strip(",;:").strip()
    for lead in ("first ", "then ", "finally ", "and "):
        if text.lower().startswith(lead) and len(text) > len(lead):
            text = text[len(lead) :].strip()
    return text
