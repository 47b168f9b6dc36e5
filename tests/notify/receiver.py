"""A real notification receiver on 127.0.0.1: it verifies each POST's signature with the same
code that verifies inbound webhook triggers, and records what it accepted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tether.notify.deliver import DELIVERY
from tether.service.triggers import Rejected, verify


@dataclass
class Receiver:
    secret: str
    fail_first: int = 0  # answer 503 to this many requests first
    hold_first: bool = False  # keep the first request unanswered until `release` is set
    url: str = ""
    got: list[dict[str, Any]] = field(default_factory=list)  # accepted: delivery, body
    seen: list[str] = field(default_factory=list)  # every delivery id, accepted or not
    rejected: list[str] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            first = not self.seen
            self.seen.append(headers.get(DELIVERY.lower(), ""))
            failing = len(self.seen) <= self.fail_first
        if first and self.hold_first:
            self.holding.set()
            self.release.wait(60)
            return 503
        try:
            verify(self.secret, headers, body, now=datetime.now(UTC), max_age_s=300)
        except Rejected as exc:
            self.rejected.append(str(exc))
            return 401
        if failing:
            return 503
        with self.lock:
            self.got.append({"delivery": headers[DELIVERY.lower()], "body": json.loads(body)})
        return 200

    def unique(self) -> dict[str, dict[str, Any]]:
        """Accepted bodies by delivery id: what a receiver that drops repeats keeps."""
        return {g["delivery"]: g["body"] for g in self.got}


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            code = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
