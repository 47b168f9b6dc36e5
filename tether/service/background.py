"""What ``tether worker`` and ``tether serve`` run beside their work: the notifier (approvals
and alerts to the notification webhooks) and one thread per event-trigger listener."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tether.notify.config import load_notifications
from tether.notify.notifier import start as start_notifier
from tether.service.listeners import start_listeners

if TYPE_CHECKING:
    from tether.runtime import Runtime


def _say(name: str) -> None:
    print(f"listener {name} ready", flush=True)


def start_background(
    runtime: Runtime,
    *,
    owner: str,
    notifications_file: Path,
    triggers_file: Path,
    agents_dir: Path,
    stop: threading.Event,
    on_ready: Callable[[str], None] = _say,
) -> list[threading.Thread]:
    """Start the notifier and the listeners (daemon threads) until ``stop`` is set; a bad
    ``notifications_file`` or listener raises ``ConfigError`` here, before anything starts."""
    load_notifications(notifications_file)  # later edits are read at each tick
    threads = [start_notifier(runtime, notifications_file, owner=owner, stop=stop)]
    threads += start_listeners(
        runtime, triggers_file, agents_dir, consumer=owner, stop=stop, on_ready=on_ready
    )
    return threads


def stop_background(stop: threading.Event, threads: list[threading.Thread]) -> None:
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
