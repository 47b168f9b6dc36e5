"""A stand-in for the Anthropic Messages API: a real HTTP server on 127.0.0.1.

Tests queue the replies (``stub.replies.append(...)``) and read back what the SDK sent
(``stub.requests``). A request with no reply queued gets a 500 and is recorded, so an
unexpected extra call (an SDK retry, say) shows up as a failure. Bodies follow the shapes the
API documents: ``message()``, ``error()``, ``sse()`` build them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

VERSION = "claude-haiku-4-5-20251001"  # the dated model version responses name


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One canned HTTP answer: a JSON ``body``, raw bytes, or SSE ``events``, after ``delay``."""

    status: int = 200
    delay: float = 0.0
    body: Any = None
    raw: bytes | None = None
    events: tuple[tuple[str, dict[str, Any]], ...] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def message(
    *content: dict[str, Any],
    stop_reason: str = "end_turn",
    input_tokens: int = 12,
    output_tokens: int = 6,
    model: str = VERSION,
) -> Reply:
    """A 200 with a Messages API ``message`` object."""
    return Reply(
        body={
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": list(content),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        },
        headers={"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"},
    )


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def error(status: int, kind: str, text: str, headers: dict[str, str] | None = None) -> Reply:
    """An error as the API sends it: ``{"type": "error", "error": {type, message}}``."""
    body = {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_err"}
    return Reply(status=status, body=body, headers=headers or {})


def sse(events: Iterable[tuple[str, dict[str, Any]]]) -> Reply:
    return Reply(events=tuple(events))


def text_stream(
    chunks: Iterable[str],
    *,
    input_tokens: int = 25,
    output_tokens: int = 15,
    stop_reason: str = "end_turn",
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a streamed text answer, ``ping`` included."""
    start = message(input_tokens=input_tokens, output_tokens=1, stop_reason="").body
    start["stop_reason"] = None
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": text("")},
        ),
        ("ping", {"type": "ping"}),
    ]
    for chunk in chunks:
        delta = {"type": "text_delta", "text": chunk}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


class AnthropicStub:
    """The server; use as a context manager (it starts and stops a uvicorn thread)."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            lifespan="off",
            ws="none",
            http="h11",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="anthropic-stub", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> list[Reply]:
        """Forget recorded requests; returns (and drops) replies nobody asked for."""
        left = list(self.replies)
        self.replies.clear()
        self.requests.clear()
        return left

    def __enter__(self) -> AnthropicStub:
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        self.__exit__()
        raise RuntimeError("the Anthropic stub server did not start")

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def _app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @app.post("/v1/messages")
        async def messages(request: Request) -> Response:
            body = await request.json()
            self.requests.append(
                Recorded(
                    method=request.method,
                    path=request.url.path,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                )
            )
            if not self.replies:
                return _json(error(500, "api_error", "stub: no reply queued"))
            reply = self.replies.popleft()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return _respond(reply)

        return app


def _respond(reply: Reply) -> Response:
    if reply.events is not None:
        return StreamingResponse(
            _sse_bytes(reply.events),
            status_code=reply.status,
            headers=reply.headers,
            media_type="text/event-stream",
        )
    if reply.raw is not None:
        return Response(
            reply.raw,
            status_code=reply.status,
            headers=reply.headers,
            media_type="application/json",
        )
    return _json(reply)


def _json(reply: Reply) -> Response:
    return Response(
        json.dumps(reply.body),
        status_code=reply.status,
        headers=reply.headers,
        media_type="application/json",
    )


async def _sse_bytes(events: Iterable[tuple[str, dict[str, Any]]]) -> AsyncIterator[bytes]:
    for name, data in events:
        yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
