"""Background processes the tests start, reaped after each test even when it fails.

A test that fails while a `tether` process it spawned still runs would leave that process
to be collected in a later test, where its ``ResourceWarning`` fails the wrong test.
"""

from __future__ import annotations

import subprocess

SPAWNED: list[subprocess.Popen[bytes]] = []


def reap() -> None:
    """Kill and wait for every process still running from the test that just ended."""
    while SPAWNED:
        proc = SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
