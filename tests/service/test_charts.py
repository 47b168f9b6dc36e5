"""The overview's chart geometry (pure)."""

from __future__ import annotations

from tether.dashboard.charts import HEIGHT, WIDTH, bar_chart, line_chart, p95


def test_bars_are_sorted_and_scaled_to_the_largest() -> None:
    rows = bar_chart([("b", 1.0), ("a", 4.0), ("c", 0.0)], "{:.1f}")
    assert [(r.label, r.width, r.text) for r in rows] == [
        ("a", 100.0, "4.0"),
        ("b", 25.0, "1.0"),
        ("c", 0.5, "0.0"),  # a sliver stays visible
    ]
    assert bar_chart([]) == []


def test_a_line_spans_the_chart() -> None:
    line = line_chart([1.0, 3.0, 2.0])
    assert line.dots[0] == (0.0, round(HEIGHT - (HEIGHT - 4) / 3, 1))
    assert line.dots[1] == (WIDTH / 2, 4.0) and line.dots[2][0] == WIDTH
    assert line.points.startswith("0.0,") and line.top == "3.00" and line.count == 3
    assert line_chart([]).count == 0 and p95([]) == 0.0 and p95([7.0]) == 7.0
