"""The HTML report: one self-contained file with charts as inline SVG (no CDN, no script).

Charts: pass rate by tag (green passed, red failed), the cost and latency distributions of
the attempts (histograms), and failures by component (the error analysis), then the tables
of failed attempts and automatic-check violations. Every text is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from tether.evals.gate import GateOutcome
from tether.evals.report import report_json
from tether.evals.runner import EvalResult

PASS, FAIL, BAR, ACCENT = "#2f9e44", "#e03131", "#1971c2", "#f08c00"
_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#212529;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.kpi{display:inline-block;margin:0 24px 12px 0}.kpi b{font-size:24px;display:block}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #dee2e6;padding:4px 8px}
th{background:#f1f3f5;text-align:left}svg{display:block;margin:8px 0}
.charts{display:flex;flex-wrap:wrap;gap:24px}
"""


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">{body}</svg>'
    )


def stacked_bars(rows: Sequence[tuple[str, int, int]], label: str, width: int = 520) -> str:
    """Horizontal bars: per row, passed (green) then failed (red), as shares of the row."""
    h, left, bar_w = 24, 150, width - 230
    parts = []
    for n, (name, good, total) in enumerate(rows):
        y = 8 + n * h
        share = good / total if total else 0.0
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(name[:22])}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{bar_w * share:.1f}" height="16" fill="{PASS}"/>'
        )
        parts.append(
            f'<rect x="{left + bar_w * share:.1f}" y="{y}" width="{bar_w * (1 - share):.1f}" '
            f'height="16" fill="{FAIL}"/>'
        )
        parts.append(
            f'<text x="{left + bar_w + 8}" y="{y + 14}" font-size="12">'
            f"{good}/{total} ({share:.0%})</text>"
        )
    return _svg(width, 16 + h * max(1, len(rows)), "".join(parts), label)


def count_bars(rows: Sequence[tuple[str, int]], label: str, width: int = 520) -> str:
    """Horizontal bars of counts (failures by component)."""
    h, left, bar_w = 24, 150, width - 200
    top = max((c for _, c in rows), default=1) or 1
    parts = []
    for n, (name, count) in enumerate(rows):
        y = 8 + n * h
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(name[:22])}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{bar_w * count / top:.1f}" height="16" '
            f'fill="{ACCENT}"/>'
        )
        parts.append(
            f'<text x="{left + bar_w * count / top + 6:.1f}" y="{y + 14}" font-size="12">'
            f"{count}</text>"
        )
    if not rows:
        parts.append('<text x="0" y="20" font-size="12">no failures</text>')
    return _svg(width, 16 + h * max(1, len(rows)), "".join(parts), label)


def histogram(values: Sequence[float], label: str, unit: str, bins: int = 10) -> str:
    """A histogram of ``values`` with its range on the axis."""
    width, height, base = 360, 180, 150
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / span * bins))] += 1
    top = max(counts) or 1
    bw = (width - 20) / bins
    parts = [f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#495057"/>']
    for n, c in enumerate(counts):
        bh = (base - 20) * c / top
        parts.append(
            f'<rect x="{10 + n * bw + 1:.1f}" y="{base - bh:.1f}" width="{bw - 2:.1f}" '
            f'height="{bh:.1f}" fill="{BAR}"><title>{c}</title></rect>'
        )
    parts.append(f'<text x="10" y="{base + 16}" font-size="11">{lo:.4g} {escape(unit)}</text>')
    parts.append(
        f'<text x="{width - 10}" y="{base + 16}" font-size="11" text-anchor="end">'
        f"{hi:.4g} {escape(unit)}</text>"
    )
    parts.append(f'<text x="10" y="12" font-size="12">{escape(label)} (n={len(values)})</text>')
    return _svg(width, height, "".join(parts), label)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def render_html(body: dict[str, Any]) -> str:
    """The report page for a JSON report (``tether.evals.report.report_json``)."""
    attempts = [a | {"case": c["id"]} for c in body["results"] for a in c["attempts"]]
    tags = [(t, v["passed"], v["attempts"]) for t, v in body["by_tag"].items()]
    comps = [(f["component"], f["count"]) for f in body["failures"]]
    costs = [float(a["cost"]) for a in attempts]
    latencies = [float(a["latency_ms"]) for a in attempts]
    gate = body.get("gate")
    kpis = [
        ("pass rate", f"{body['pass_rate']:.1%}"),
        ("cases", body["cases"]),
        ("attempts", body["attempts"]),
        (f"pass@{body['repeat']}", f"{body['pass_at_k']:.1%}"),
        (f"pass^{body['repeat']}", f"{body['pass_hat_k']:.1%}"),
    ]
    if gate is not None:
        kpis.append(("gate", "passed" if gate["passed"] else "FAILED"))
    failed = [
        (
            a["case"],
            a["attempt"],
            a["status"],
            (a["failure"] or {}).get("component", ""),
            (a["failure"] or {}).get("why", ""),
            a["run_id"],
        )
        for a in attempts
        if not a["passed"]
    ]
    viol = [(v["case"], v["check"], v["detail"]) for v in body.get("violations", [])]
    title = f"tether eval: {body['dataset']}"
    return "".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            f"<p>agent {escape(body['agent'] or '-')} · model {escape(body['model'] or '-')} · "
            f"seed {body['seed']} · {escape(body['started_at'])} · {body['wall_s']} s</p>",
            "".join(f"<div class='kpi'><b>{escape(str(v))}</b>{escape(k)}</div>" for k, v in kpis),
            "<h2>Pass rate by tag</h2>",
            stacked_bars(tags, "pass rate by tag"),
            "<h2>Cost and latency</h2><div class='charts'>",
            histogram(costs, "cost per attempt", "USD"),
            histogram(latencies, "latency per attempt", "ms"),
            "</div><h2>Error analysis: failures by component</h2>",
            count_bars(comps, "failures by component"),
            "<h2>Failed attempts</h2>",
            _table(["case", "attempt", "status", "component", "why", "run"], failed)
            if failed
            else "<p>none</p>",
            "<h2>Automatic run checks</h2>",
            _table(["case", "check", "detail"], viol) if viol else "<p>no violations</p>",
            "</body></html>",
        ]
    )


def write_html(path: Path | str, result: EvalResult, gate: GateOutcome | None = None) -> None:
    """Write the report page of ``result`` (and the gate's outcome) to ``path``."""
    Path(path).write_text(render_html(report_json(result, gate)), encoding="utf-8")
