"""The extractive summarizer: keeps the sentences that carry facts, drops the rest; no model.

A later turn needs the *facts* of early turns (a name, an account number, a date, a preference,
a decision), rarely their wording. So each sentence gets a fact score, and the best sentences,
by score per square root of their length, fill the target size; the kept sentences stay in
their original order under their turn label (``[turn 3 user] ...``), so a summary of summaries
keeps where each fact came from.

The score of a sentence adds:

- numbers (+2 each, at most 3) and identifiers (+3 each, at most 2): tokens mixing letters and
  digits, long digit runs, ``ACC-4471``-style codes, emails and redaction markers;
- dates and times (+2): month and day names, ISO dates, ``3pm``;
- names (+1 each, at most 4): capitalised words that do not start the sentence;
- cue phrases: identity (``my name is``, ``I live``; +3), preferences (``prefer``, ``allergic``,
  ``favourite``, ``never``; +3), decisions and commitments (``decided``, ``booked``,
  ``deadline``, ``confirmed``; +2);
- a small base (0.2), so that with room to spare plain sentences are kept too.

It is then weighted by who said it (the user's own words 1.0, operators 1.0, tools 0.8, the
assistant 0.6: answers mostly repeat what was said), questions count 0.6, and pleasantries
(``thanks``, ``ok``) count zero. A sentence nearly identical to one already kept (word overlap
of 0.7 or more) is skipped. Everything is pure and deterministic: same input, same summary.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tether.agent.memory.tokens import EstimateCounter, TokenCounter

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_WORD = re.compile(r"[\w'@.+-]+")
_NUMBER = re.compile(r"^[-+]?\d[\d,.]*%?$")
_ID = re.compile(
    r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9][A-Za-z0-9_/#:.-]{2,}$|^\d{4,}$|^\S+@\S+\.\w+$"
    r"|^\[redacted:"
)
_DATE = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b|\b(mon|tues?|wed(nes)?|"
    r"thu(rs)?|fri|sat(ur)?|sun)day\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?[ap]m\b"
    r"|\b(today|tomorrow|yesterday|tonight|next week)\b",
    re.IGNORECASE,
)
_IDENTITY = re.compile(
    r"\b(my name|i am|i'm|call me|my \w+ (is|are|number)|i live|i work|i was born|born on)\b",
    re.IGNORECASE,
)
_PREFERENCE = re.compile(
    r"\b(prefer\w*|favou?rite|like|love|hate|dislike|allergic|vegetarian|vegan|always|never|"
    r"don't want|do not want|rather|avoid)\b",
    re.IGNORECASE,
)
_DECISION = re.compile(
    r"\b(decided?|decision|agree[ds]?|confirm\w*|chose|choose|booked|scheduled|deadline|must|"
    r"approved?|cancel\w*|ordered|signed|paid|owe[ds]?|due)\b",
    re.IGNORECASE,
)
_PLEASANTRY = re.compile(
    r"^(thanks?( you)?|thank you( very much)?|ok(ay)?|sure|great|cool|got it|hello|hi|hey|"
    r"bye|sounds good|perfect|yes|no)[\s!.,]*$",
    re.IGNORECASE,
)
_LINE = re.compile(r"^\[(?P<label>(?:turn|step) \d+) (?P<role>[^\]\s]+)\] (?P<text>.*)$")
ROLE_WEIGHT = {"user": 1.0, "operator": 1.0, "assistant": 0.6}
TOOL_WEIGHT = 0.8
DUPLICATE = 0.7
MAX_VALUE_CHARS = 300


@dataclass(frozen=True, kw_only=True)
class Utterance:
    """What someone said at one place in the conversation: ``label`` is ``turn N`` (a turn of
    a session) or ``step N`` (a step of the run); ``role`` is ``user``, ``assistant``,
    ``operator`` or ``tool:NAME``."""

    label: str
    role: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Sentence:
    position: int
    label: str
    role: str
    text: str
    score: float
    tokens: int


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def tool_sentences(content: str) -> list[str]:
    """A tool result (JSON text) as ``path: value`` sentences, one per leaf."""
    try:
        data = json.loads(content)
    except ValueError:
        return split_sentences(content)
    out: list[str] = []
    _leaves(data, "", out)
    return out


def _leaves(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _leaves(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        for i, item in enumerate(value[:50]):
            _leaves(item, f"{path}[{i}]", out)
    else:
        text = str(value)[:MAX_VALUE_CHARS]
        out.append(f"{path}: {text}" if path else text)


def score_sentence(text: str, role: str) -> float:
    """The fact score of one sentence said by ``role`` (see the module docstring)."""
    if _PLEASANTRY.match(text.strip()):
        return 0.0
    words = _WORD.findall(text)
    numbers = sum(1 for w in words if _NUMBER.match(w.strip(".,")))
    ids = sum(1 for w in words if _ID.match(w.strip(".,;")) and not _NUMBER.match(w))
    names = sum(1 for w in words[1:] if w[:1].isupper() and w not in ("I", "I'm", "I'd"))
    score = 0.2 + 2 * min(numbers, 3) + 3 * min(ids, 2) + min(names, 4)
    score += 2 if _DATE.search(text) else 0
    score += 3 if _IDENTITY.search(text) else 0
    score += 3 if _PREFERENCE.search(text) else 0
    score += 2 if _DECISION.search(text) else 0
    weight = TOOL_WEIGHT if role.startswith("tool") else ROLE_WEIGHT.get(role, 1.0)
    if text.rstrip().endswith("?"):
        weight *= 0.6
    return score * weight


def sentences(items: Sequence[Utterance], counter: TokenCounter) -> list[Sentence]:
    out: list[Sentence] = []
    for item in items:
        parts = tool_sentences(item.text) if item.role.startswith("tool") else None
        for text in parts if parts is not None else split_sentences(item.text):
            out.append(
                Sentence(
                    position=len(out),
                    label=item.label,
                    role=item.role,
                    text=text,
                    score=score_sentence(text, item.role),
                    tokens=counter.count(text) + 1,
                )
            )
    return out


def _words(text: str) -> frozenset[str]:
    return frozenset(w.casefold() for w in _WORD.findall(text))


def _duplicate(words: frozenset[str], kept: Iterable[frozenset[str]]) -> bool:
    for other in kept:
        union = len(words | other)
        if union and len(words & other) / union >= DUPLICATE:
            return True
    return False


def select(found: Sequence[Sentence], target: int, label_cost: int = 6) -> list[Sentence]:
    """The best sentences that fit ``target`` tokens (a label costs ``label_cost`` once per
    run of sentences from one place), in their original order."""
    ranked = sorted(
        (s for s in found if s.score > 0),
        key=lambda s: (-s.score / math.sqrt(max(1, s.tokens)), s.position),
    )
    kept: list[Sentence] = []
    kept_words: list[frozenset[str]] = []
    places: set[tuple[str, str]] = set()
    used = 0
    for s in ranked:
        words = _words(s.text)
        if _duplicate(words, kept_words):
            continue
        cost = s.tokens + (0 if (s.label, s.role) in places else label_cost)
        if used + cost > target:
            continue
        kept.append(s)
        kept_words.append(words)
        places.add((s.label, s.role))
        used += cost
    return sorted(kept, key=lambda s: s.position)


def render(kept: Sequence[Sentence]) -> str:
    """Kept sentences as lines ``[label role] sentence sentence``, one line per place."""
    lines: list[str] = []
    place: tuple[str, str] | None = None
    for s in kept:
        if (s.label, s.role) == place:
            lines[-1] += " " + s.text
        else:
            place = (s.label, s.role)
            lines.append(f"[{s.label} {s.role}] {s.text}")
    return "\n".join(lines)


def parse_summary(text: str) -> list[Utterance]:
    """A rendered summary back into utterances (to condense it further)."""
    out: list[Utterance] = []
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m is not None:
            out.append(Utterance(label=m["label"], role=m["role"], text=m["text"]))
        elif line.strip():
            out.append(Utterance(label="turn 0", role="summary", text=line.strip()))
    return out


def extract(items: Sequence[Utterance], target: int, counter: TokenCounter | None = None) -> str:
    """The extractive summary of ``items`` in at most about ``target`` tokens."""
    count = counter or EstimateCounter()
    kept = select(sentences(items, count), target)
    return render(kept)
