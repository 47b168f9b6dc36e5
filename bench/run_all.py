"""`make bench`: run every benchmark under bench/ and write bench/results/*.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "overhead.py",
    "tools.py",
    "http_tools.py",
    "governance.py",
    "scale.py",
    "memory.py",
    "planning.py",
    "evals_suites.py",
    "privacy.py",
    "memory_working.py",
    "teams.py",
    "evals.py",
    "service.py",
]

if __name__ == "__main__":
    failed = 0
    for name in BENCHES:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name)], cwd=HERE.parent)
    sys.exit(failed)
