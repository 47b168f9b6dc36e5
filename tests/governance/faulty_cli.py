"""``tether`` with a fault: SIGKILL itself while recording a pause (crash tests only).

TETHER_TEST_KILL names the point (once, guarded by the TETHER_TEST_MARKER file):
``after_request`` — right after the transaction that journals ``approval_requested`` (and
writes the approval row) commits, before ``run_finished``; ``before_paused`` — after
``run_finished`` is journaled, before the run's status becomes ``paused``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tether.cli.main import main
from tether.store.journal import Journal
from tether.store.runs import RunStore


def _die(point: str) -> None:
    marker = os.environ.get("TETHER_TEST_MARKER", "")
    if os.environ.get("TETHER_TEST_KILL") == point and marker and not Path(marker).exists():
        Path(marker).write_text(point)
        os.kill(os.getpid(), signal.SIGKILL)


def _patch() -> None:
    store, update = Journal.store, RunStore.update

    def faulty_store(self: Journal, items: Any, **kwargs: Any) -> Any:
        stored = store(self, items, **kwargs)
        if any(e.kind == "approval_requested" for e in stored):
            _die("after_request")
        return stored

    def faulty_update(self: RunStore, run_id: str, **changes: Any) -> Any:
        if str(changes.get("status", "")) == "paused":
            _die("before_paused")
        return update(self, run_id, **changes)

    Journal.store = faulty_store  # type: ignore[method-assign]
    RunStore.update = faulty_update  # type: ignore[method-assign]


if __name__ == "__main__":
    _patch()
    main()
