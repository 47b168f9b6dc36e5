"""JSON log lines with the run id on each, through the same redactor as the journal.

``current_run`` holds the id of the run whose step is executing (set by ``Runtime.drive``;
asyncio tasks and tool threads inherit it), so any library's log line inside a step names its
run. ``configure(settings, redactor)`` installs the formatter on the root logger when
``TETHER_LOG_FORMAT=json`` (``tether serve`` and ``tether worker``; the default for other
commands is plain text).
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from tether.redact import Redactor

current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("tether_run", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, run_id, and the exception."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._redactor.redact_text(record.getMessage()),
            "run_id": getattr(record, "run_id", None) or current_run.get(),
        }
        if record.exc_info:
            line["exception"] = self._redactor.redact_text(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str, redactor: Redactor, level: int = logging.INFO) -> None:
    """Log to stderr as JSON (``json``) or text; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tether", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._tether = True  # type: ignore[attr-defined]
    if log_format == "json":
        handler.setFormatter(JsonFormatter(redactor))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
