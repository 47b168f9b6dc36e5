"""A real HTTP server on 127.0.0.1 for the HTTP tool tests: a tiny pet store that records
every request it receives."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PETS = {"1": {"id": 1, "name": "Rex", "tag": "dog"}, "7": {"id": 7, "name": "Tom", "tag": "cat"}}


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class PetServer:
    url: str
    requests: list[Received] = field(default_factory=list)
    flaky_failures: int = 0  # /flaky answers 503 this many times, then 200


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _record(self) -> Received:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        received = Received(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self.server.state.requests.append(received)
        return received

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        ctype = "text/plain" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        r = self._record()
        route = r.path.strip("/").split("/")
        state = self.server.state
        if route == ["pets"]:
            pets = [p for p in PETS.values() if p["tag"] in r.query.get("tag", [p["tag"]])]
            limit = int(r.query.get("limit", ["100"])[0])
            self._send(200, pets[:limit])
        elif route[0] == "pets" and len(route) == 2:
            pet = PETS.get(route[1])
            self._send(200, pet) if pet else self._send(404, {"message": f"no pet {route[1]}"})
        elif route == ["whoami"]:
            self._send(200, {"authorization": r.headers.get("authorization", "")})
        elif route == ["cookie"]:
            self._send(200, {"cookie": r.headers.get("cookie")}, {"Set-Cookie": "session=abc"})
        elif route[0] == "status":
            code = int(route[1])
            extra = {"Retry-After": "0"} if code == 429 else {}
            self._send(code, {"message": f"status {code}"}, extra)
        elif route == ["flaky"]:
            if state.flaky_failures > 0:
                state.flaky_failures -= 1
                self._send(503, {"message": "try later"})
            else:
                self._send(200, {"ok": True})
        elif route == ["big"]:
            self._send(200, b"x" * 100_000)
        elif route == ["slow"]:
            time.sleep(1.0)
            self._send(200, {"late": True})
        elif route == ["redirect"]:
            self._send(302, {}, {"Location": r.query["to"][0]})
        else:
            self._send(404, {"message": "no route"})

    do_HEAD = do_GET

    def do_POST(self) -> None:
        r = self._record()
        if r.path == "/pets":
            self._send(201, {"id": 99, **(r.body or {})})
        elif r.path.startswith("/status/"):
            self._send(int(r.path.rsplit("/", 1)[1]), {"message": "failed"})
        else:
            self._send(404, {"message": "no route"})

    def do_DELETE(self) -> None:
        r = self._record()
        self._send(204 if r.path.startswith("/pets/") else 404, b"")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: PetServer


@contextmanager
def pet_server(tls: ssl.SSLContext | None = None) -> Iterator[PetServer]:
    """The pet store on 127.0.0.1; with ``tls``, over HTTPS with that server context."""
    server = _Server(("127.0.0.1", 0), _Handler)
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    server.state = PetServer(url=f"{scheme}://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
