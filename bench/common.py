"""Shared helpers for benchmarks: the machine's description and the results file format."""

from __future__ import annotations

import json
import os
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def metric(value: float, unit: str, goal: str = "", note: str = "") -> dict[str, Any]:
    return {"value": round(value, 4), "unit": unit, "goal": goal, "note": note}


def write_results(name: str, metrics: dict[str, dict[str, Any]]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps({"machine": machine(), "metrics": metrics}, indent=2) + "\n")
    return path


def merge_results(name: str, metrics: dict[str, dict[str, Any]]) -> Path:
    """Like ``write_results``, keeping the metrics other benchmarks wrote to the same file."""
    path = RESULTS / name
    old = json.loads(path.read_text()).get("metrics", {}) if path.exists() else {}
    return write_results(name, old | metrics)


def median(values: list[float]) -> float:
    return statistics.median(values)
