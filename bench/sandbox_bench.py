"""Sandbox overhead: median ms of ``print(1)`` in the sandbox vs a plain subprocess (goal ≤ 1.6x).

Run: ``.venv/bin/python bench/sandbox_bench.py`` (needs bubblewrap; run as root or any user).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from tether.tools.sandbox import SandboxConfig, _interpreter, run_python

RUNS = 20


def median_ms(action: Callable[[], object]) -> float:
    action()  # warm the page cache
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


def main() -> None:
    config = SandboxConfig()
    python, _ = _interpreter(config)  # the same interpreter on both sides
    sandboxed = median_ms(lambda: run_python("print(1)", config))
    plain = median_ms(lambda: subprocess.run([python, "-c", "print(1)"], capture_output=True))
    plain_isolated = median_ms(
        lambda: subprocess.run([python, "-I", "-S", "-c", "print(1)"], capture_output=True)
    )
    report = {
        "runs": RUNS,
        "python": python,
        "sandbox_print1_ms": sandboxed,
        "plain_subprocess_ms": plain,
        "plain_subprocess_isolated_ms": plain_isolated,
        "ratio": round(sandboxed / plain, 2),
        "goal_ratio": 1.6,
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
