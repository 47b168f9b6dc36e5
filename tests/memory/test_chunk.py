"""Semantic chunking: exact slices, heading paths, budget, overlap, coverage."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.memory import chunk_text

DOC = """# Guide

Intro paragraph about the guide.

## Install

Run make. It installs everything. The venv lives in .venv and is reused.

```
# not a heading: inside a fence
make test
```

## Use

### Search

""" + " ".join(f"Sentence number {i} talks about searching memory." for i in range(40))


def test_chunks_are_exact_slices_with_heading_paths() -> None:
    chunks = chunk_text(DOC, source="guide.md", max_chars=300, overlap_chars=80)
    for c in chunks:
        assert DOC[c.start : c.end] == c.text and c.source == "guide.md"
        assert len(c.text) <= 300
    headings = {c.heading for c in chunks}
    assert ("Guide", "Install") in headings and ("Guide", "Use", "Search") in headings
    assert not any("not a heading" in h for hs in headings for h in hs)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    install = next(c for c in chunks if c.heading == ("Guide", "Install"))
    assert install.embed_text.startswith("Guide > Install\n")


def test_long_sections_overlap_at_sentence_boundaries() -> None:
    chunks = [
        c for c in chunk_text(DOC, max_chars=300, overlap_chars=80) if c.heading[-1] == "Search"
    ]
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end  # overlap
        assert b.text[0].isupper()  # starts at a sentence


def test_bad_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_text("x", max_chars=100, overlap_chars=100)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="abc def.\n", min_size=0, max_size=400),
            st.sampled_from(["# H1", "## H2", "\n\n", "```", "Long." * 80]),
        ),
        max_size=12,
    ).map("\n".join)
)
def test_every_word_is_in_some_chunk(doc: str) -> None:
    chunks = chunk_text(doc, max_chars=120, overlap_chars=30)
    covered = [False] * len(doc)
    for c in chunks:
        assert doc[c.start : c.end] == c.text and 0 < len(c.text) <= 120
        for i in range(c.start, c.end):
            covered[i] = True
    titles = " ".join(t for c in chunks for t in c.heading)
    for m in re.finditer(r"\S+", doc):
        assert (
            all(covered[m.start() : m.end()]) or m.group() in titles or m.group().startswith("#")
        ), (m.group(), doc)
