"""Acceptance 1 (report part): the HTML report opens in Debian's chromium, offline, and its
charts render: a headless screenshot has the bars' colours in quantity."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.evals.helpers import ROOT, run, write_dataset
from tests.evals.png import pixels
from tether.evals.html import ACCENT, BAR, FAIL, PASS, write_html


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium (``make sysdeps`` installs it; so does this fixture)."""
    found = shutil.which("chromium")
    if found is None:
        subprocess.run(["make", "-C", str(ROOT), "sysdeps"], check=True, timeout=1200)
        found = shutil.which("chromium")
    assert found is not None, "chromium is missing: run `make sysdeps`"
    return found


def rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def near(counts: Counter[tuple[int, int, int]], color: str, tol: int = 6) -> int:
    want = rgb(color)
    return sum(
        n
        for px, n in counts.items()
        if all(abs(a - b) <= tol for a, b in zip(px, want, strict=True))
    )


def test_report_charts_render_in_chromium(tmp_path: Path, chromium: str) -> None:
    cases = [
        {
            "id": "hello",
            "input": "Say hello.",
            "tags": ["chat"],
            "script": [{"answer": "Hello!"}],
            "expect": {"output": "Hello!"},
        },
        {
            "id": "sum",
            "input": "Compute 2 + 2.",
            "tags": ["calc"],
            "script": [
                {"call": {"tool": "calculator", "args": {"expression": "2 + 2"}}},
                {"answer": "It is 5."},
            ],
            "expect": {"number": {"value": 4}},
        },
        {
            "id": "skip",
            "input": "Compute 3 * 3.",
            "tags": ["calc"],
            "script": [{"answer": "9"}],
            "expect": {"trajectory": {"calls": [{"tool": "calculator"}]}},
        },
    ]
    result = run(write_dataset(tmp_path, cases), tmp_path)
    assert [a.passed for a in result.attempts] == [True, False, False]
    page = tmp_path / "report.html"
    write_html(page, result)
    shot = tmp_path / "shot.png"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
        f"--screenshot={shot}",
        "--window-size=1100,1400",
        page.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    width, height, px = pixels(shot.read_bytes())
    assert (width, height) == (1100, 1400)
    counts = Counter(px)
    white = counts[(255, 255, 255)]
    assert white < len(px) * 0.98 and len(counts) > 20  # not blank: text and charts drawn
    assert near(counts, PASS) > 500  # passed share of the tag bars
    assert near(counts, FAIL) > 500  # failed share
    assert near(counts, BAR) > 300  # cost and latency histograms
    assert near(counts, ACCENT) > 300  # failures by component
