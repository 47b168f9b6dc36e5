"""Semantic chunking with overlap: headings, then paragraphs, then sentences, packed to a budget.

A document is cut into sections at Markdown headings (outside fenced code), each section into
paragraphs (blank lines), and a paragraph longer than the budget into sentences (then at spaces).
These units are packed greedily into chunks of at most ``max_chars``; each new chunk of a section
repeats the previous chunk's trailing units up to ``overlap_chars``, so a passage cut at a
boundary is whole in one of them. Chunks never cross a heading; a heading with nothing under
it but further headings is not a chunk of its own (it is in their heading paths). Every chunk
is an exact slice ``text[start:end]`` of the document and carries its provenance: source,
heading path, offsets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")

Span = tuple[int, int]


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """A slice of a document with where it came from."""

    text: str
    source: str
    heading: tuple[str, ...]
    start: int
    end: int
    index: int

    @property
    def embed_text(self) -> str:
        """What gets embedded: the heading path, then the text (headings carry the topic)."""
        return f"{' > '.join(self.heading)}\n{self.text}" if self.heading else self.text


@dataclass(frozen=True)
class _Section:
    heading: tuple[str, ...]
    start: int
    end: int


def chunk_text(
    text: str, *, source: str = "", max_chars: int = 500, overlap_chars: int = 100
) -> list[Chunk]:
    """Cut ``text`` into chunks of at most ``max_chars`` (a unit longer than that is cut hard)."""
    if max_chars < 50 or not 0 <= overlap_chars < max_chars:
        raise ValueError(
            f"chunking needs max_chars >= 50 and 0 <= overlap_chars < max_chars, "
            f"got {max_chars} and {overlap_chars}"
        )
    chunks: list[Chunk] = []
    sections = list(_sections(text))
    for n, section in enumerate(sections):
        under = sections[n + 1].heading[: len(section.heading)] if n + 1 < len(sections) else ()
        if under == section.heading and _heading_only(text, section):
            continue  # its title lives on in the heading path of the section under it
        units = list(_units(text, section.start, section.end, max_chars))
        for start, end in _pack(units, max_chars, overlap_chars):
            chunks.append(
                Chunk(
                    text=text[start:end],
                    source=source,
                    heading=section.heading,
                    start=start,
                    end=end,
                    index=len(chunks),
                )
            )
    return chunks


def _sections(text: str) -> Iterator[_Section]:
    path: list[tuple[int, str]] = []
    heading: tuple[str, ...] = ()
    start = 0
    offset = 0
    fenced = False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line.rstrip("\r\n"))
        if match:
            if offset > start:
                yield _Section(heading, start, offset)
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [
                (level, match.group(2).strip())
            ]
            heading = tuple(title for _, title in path)
            start = offset
        offset += len(line)
    if len(text) > start:
        yield _Section(heading, start, len(text))


def _heading_only(text: str, section: _Section) -> bool:
    body = text[section.start : section.end]
    first, _, rest = body.partition("\n")
    return (
        bool(section.heading)
        and _HEADING.match(first.rstrip("\r")) is not None
        and not rest.strip()
    )


def _units(text: str, start: int, end: int, max_chars: int) -> Iterator[Span]:
    """Paragraphs of ``text[start:end]``, long ones cut into sentences, then at spaces."""
    for para in _split(text, start, end, _PARAGRAPH_BREAK):
        if para[1] - para[0] <= max_chars:
            yield para
            continue
        for sentence in _split(text, para[0], para[1], _SENTENCE_END):
            yield from _hard_split(text, sentence, max_chars)


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> Iterator[Span]:
    pos = start
    for match in pattern.finditer(text, start, end):
        yield from _trimmed(text, pos, match.start())
        pos = match.end()
    yield from _trimmed(text, pos, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[Span]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield (start, end)


def _hard_split(text: str, span: Span, max_chars: int) -> Iterator[Span]:
    start, end = span
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        yield from _trimmed(text, start, cut)
        start = cut
    yield from _trimmed(text, start, end)


def _pack(units: list[Span], max_chars: int, overlap_chars: int) -> Iterator[Span]:
    current: list[Span] = []
    for unit in units:
        if current and unit[1] - current[0][0] > max_chars:
            yield (current[0][0], current[-1][1])
            current = _tail(current, overlap_chars)
            while current and unit[1] - current[0][0] > max_chars:
                current.pop(0)
        current.append(unit)
    if current:
        yield (current[0][0], current[-1][1])


def _tail(units: list[Span], overlap_chars: int) -> list[Span]:
    """The trailing units of a chunk that fit in ``overlap_chars``."""
    tail: list[Span] = []
    for unit in reversed(units):
        if units[-1][1] - unit[0] > overlap_chars:
            break
        tail.insert(0, unit)
    return tail
