"""Documents to plain text for ingestion: Markdown and text as they are, HTML without tags
(stdlib ``html.parser``; headings become Markdown headings so chunking keeps them), PDF text
(``pypdf``). Folders are walked in sorted order; hidden files and unknown suffixes are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

from tether.errors import UsageError

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

_BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "table", "section", "article", "pre", "blockquote", "hr"}
)
_SPACES = re.compile(r"\s+")
_SKIP = frozenset({"script", "style", "head", "noscript", "template", "svg"})


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS or (len(tag) == 2 and tag[0] == "h" and tag[1] in "123456"):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """The visible text of an HTML document, one paragraph per block, headings as ``#``."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def pdf_to_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, OSError) as exc:
        raise UsageError(f"cannot read the PDF {str(path)!r}: {exc}") from exc


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


_READERS: dict[str, Callable[[Path], str]] = {
    **dict.fromkeys(TEXT_SUFFIXES, _read_text),
    **dict.fromkeys(HTML_SUFFIXES, lambda p: html_to_text(_read_text(p))),
    **dict.fromkeys(PDF_SUFFIXES, pdf_to_text),
}


def read_document(path: Path) -> str:
    """The text of one file; an unsupported suffix is a UsageError naming the ones supported."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise UsageError(
            f"cannot ingest {str(path)!r}: unsupported file type {path.suffix!r}; "
            f"supported: {', '.join(sorted(SUFFIXES))}"
        )
    return reader(path)


def find_documents(path: Path) -> Iterator[Path]:
    """``path`` itself, or the supported files under a folder (sorted, no hidden ones)."""
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        raise UsageError(f"nothing to ingest at {str(path)!r}: no such file or folder")
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if file.is_file() and file.suffix.lower() in SUFFIXES:
            yield file
