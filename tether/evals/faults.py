"""A fault-injecting HTTP server on 127.0.0.1 for the chaos suite and tests.

One server plays three parts, each path with its own queue of scripted faults (then a
default answer):

- ``GET /read/NAME``: a read endpoint answering ``{"name": NAME, "value": ...}``;
- ``POST /write/NAME``: a write endpoint that applies its effect once per
  ``Idempotency-Key`` (a repeated key gets the first answer back and applies nothing), and
  records every effect, so a test counts them;
- ``POST /v1/chat/completions``: an OpenAI-compatible model endpoint answering from a queue
  of completions (``completion`` builds one).

A fault (``Fault``) is a status, headers and a body (JSON, or raw bytes for malformed and
oversize answers), optionally sent after a delay, and for writes either before or after the
effect is applied (``apply``: a 503 after the effect is a lost acknowledgement). Everything
the server received is in ``requests``; it holds no state outside the object.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One scripted answer. ``body``: a JSON value, or ``bytes`` sent as they are."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    apply: bool = False  # writes: apply the effect before answering with this fault


@dataclass(frozen=True, kw_only=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival


@dataclass(kw_only=True)
class FaultServer:
    """The server's state: the fault queues, what it received, the writes' effects."""

    url: str = ""
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    effects: list[tuple[str, Any]] = field(default_factory=list)  # (write name, body) applied
    _answers: dict[str, tuple[int, Any]] = field(default_factory=dict)  # idempotency key
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, path: str, *faults: Fault) -> None:
        """Answer the next requests to ``path`` with ``faults``, in order."""
        with self._lock:
            self.faults.setdefault(path, deque()).extend(faults)

    def received(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def effect_count(self, name: str) -> int:
        return sum(1 for n, _ in self.effects if n == name)

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()
            self.effects.clear()
            self._answers.clear()

    def _next(self, path: str) -> Fault | None:
        with self._lock:
            pending = self.faults.get(path)
            return pending.popleft() if pending else None

    def _apply(self, name: str, key: str | None, body: Any) -> tuple[int, Any]:
        """Apply a write's effect once per idempotency key; the answer to send."""
        with self._lock:
            if key and key in self._answers:
                return self._answers[key]
            self.effects.append((name, body))
            answer = (201, {"name": name, "applied": len(self.effects)})
            if key:
                self._answers[key] = answer
            return answer


def completion(
    text: str | None = None,
    *,
    tool: tuple[str, dict[str, Any] | str] | None = None,
) -> dict[str, Any]:
    """An OpenAI chat completion: a text answer or one tool call (``str`` arguments are sent
    as they are, so they may be malformed JSON)."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    finish = "stop"
    if tool is not None:
        name, args = tool
        raw = args if isinstance(args, str) else json.dumps(args)
        message["tool_calls"] = [
            {"id": f"call_{name}", "type": "function", "function": {"name": name, "arguments": raw}}
        ]
        finish = "tool_calls"
    return {
        "id": "chatcmpl-chaos",
        "object": "chat.completion",
        "created": 1,
        "model": "chaos-1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _receive(self) -> Received:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        received = Received(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        with self.server.state._lock:
            self.server.state.requests.append(received)
        return received

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        ctype = "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, fault: Fault) -> None:
        if fault.delay_s:
            time.sleep(fault.delay_s)
        self._send(fault.status, fault.body, fault.headers)

    def do_GET(self) -> None:
        r = self._receive()
        fault = self.server.state._next(r.path)
        if fault is not None:
            self._fault(fault)
        elif r.path.startswith("/read/"):
            name = r.path.removeprefix("/read/")
            self._send(200, {"name": name, "value": f"fresh {name}"})
        else:
            self._send(404, {"message": f"no route {r.path}"})

    def do_POST(self) -> None:
        r = self._receive()
        state = self.server.state
        fault = state._next(r.path)
        if r.path.startswith("/write/"):
            name = r.path.removeprefix("/write/")
            key = r.headers.get("idempotency-key")
            if fault is None:
                self._send(*state._apply(name, key, r.body))
                return
            if fault.apply:
                state._apply(name, key, r.body)
            self._fault(fault)
        elif fault is not None:
            self._fault(fault)
        else:
            self._send(500, {"error": {"message": f"no answer queued for {r.path}"}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that stopped reading (a timeout, a truncated read) is expected here."""
        if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            super().handle_error(request, client_address)


@contextmanager
def fault_server() -> Iterator[FaultServer]:
    """A ``FaultServer`` listening on 127.0.0.1 (a free port) while the block runs."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = FaultServer(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
