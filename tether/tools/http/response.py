"""Turning an HTTP response into what the model sees (pure, given the bytes read).

2xx: ``{"status": 200, "body": <JSON or text>}``, with ``"truncated": true`` when the body
exceeded the limit (the text is cut and ends with a marker). 429 and, for reads and idempotent
calls, 5xx raise ``TransientToolError`` (the executor retries, after the ``Retry-After`` the
server gave, as ``retry_after_s``); other errors raise
``HttpStatusError`` with the status and a short body the model can act on. Secret values sent
in the request are masked wherever the server echoes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tether.errors import HttpStatusError, TransientToolError
from tether.models._provider import one_line, retry_after

SECRET_MASK = "[REDACTED:secret]"
ERROR_BODY_CHARS = 500
_HINTS = {
    400: "check the arguments against the tool's schema and try again",
    401: "the tool's credentials were refused; do not retry, report it",
    403: "the tool's credentials lack access; do not retry, report it",
    404: "nothing exists there; check the identifiers in the arguments",
    405: "the server does not allow this method; the tool is misconfigured, report it",
    409: "the request conflicts with the current state; read it first, then retry",
    422: "the server rejected the arguments; fix them and try again",
}


def truncation_marker(limit: int) -> str:
    return f"…[truncated: the response exceeded {limit} bytes]"


def decode_body(
    content: bytes,
    *,
    content_type: str,
    encoding: str | None,
    truncated: bool,
    limit: int,
    secrets: Sequence[str] = (),
) -> Any:
    """JSON when the body parses as JSON, else text; masked, and marked when truncated."""
    text = content.decode(encoding or "utf-8", errors="replace")
    for value in sorted(set(secrets), key=len, reverse=True):
        if value:
            text = text.replace(value, SECRET_MASK)
    if truncated:
        return text + truncation_marker(limit)
    if "json" in content_type.lower() or text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def result_or_raise(
    *,
    tool: str,
    method: str,
    url: str,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: Any,
    truncated: bool,
    retry_safe: bool,
) -> dict[str, Any]:
    """The tool result for a final (non-redirect) response; raises for error statuses."""
    if 200 <= status < 300:
        result: dict[str, Any] = {"status": status, "body": body}
        if truncated:
            result["truncated"] = True
        return result
    short = one_line(body if isinstance(body, str) else json.dumps(body), ERROR_BODY_CHARS)
    detail: dict[str, Any] = {"status": status, "body": short}
    what = f"{method} {url} answered {status} {reason}".rstrip()
    if status == 429 or (status >= 500 and retry_safe):
        wait = retry_after(headers)
        if wait is not None:
            detail["retry_after_s"] = wait
        later = f"retry after {wait:g} s" if wait is not None else "try again later"
        raise TransientToolError(f"{what}; {later}", tool=tool, detail=detail)
    if status >= 500:
        hint = (
            "the server failed and the change may or may not have happened; "
            "check its state before trying again"
        )
    else:
        hint = _HINTS.get(status, "check the arguments and the tool's purpose")
    raise HttpStatusError(f"{what}: {short or 'no body'}; {hint}", tool=tool, detail=detail)
