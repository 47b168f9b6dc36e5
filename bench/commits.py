"""Count the SQLite commits of a run, by what they wrote: the journal, DBOS's step records, both
in one transaction (``journal+dbos_step``: a durable step's events folded into DBOS's record of
the step, tether/durable/fold.py), other.

Every SQLite connection SQLAlchemy opens in this process (tether's and DBOS's) gets a trace
callback; each committed transaction is classified by the tables it wrote. Tracing costs time,
so the benchmark counts in a run of its own, not in the timed one.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

_WRITE = re.compile(
    r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+([\w.\"]+)", re.IGNORECASE
)


def _kind(tables: set[str]) -> str:
    journal = any(t.endswith("tether_events") for t in tables)
    step = any(t.endswith("operation_outputs") for t in tables)
    if journal and step:
        return "journal+dbos_step"
    if journal:
        return "journal"
    if step:
        return "dbos_step"
    return "other"


class CommitCounter:
    """Counts committed write transactions per kind; ``install`` before the engines connect."""

    def __init__(self) -> None:
        self.commits: Counter[str] = Counter()
        self._open: dict[int, set[str]] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        event.listen(sa.Engine, "connect", self._on_connect)

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            key = id(dbapi_connection)
            dbapi_connection.set_trace_callback(lambda sql: self._on_statement(key, sql))

    def _on_statement(self, key: int, sql: str) -> None:
        head = sql.lstrip()[:8].upper()
        with self._lock:
            if head.startswith("BEGIN"):
                self._open[key] = set()
            elif head.startswith(("COMMIT", "END")):
                tables = self._open.pop(key, set())
                if tables:
                    self.commits[_kind(tables)] += 1
            elif head.startswith("ROLLBACK"):
                self._open.pop(key, None)
            else:
                match = _WRITE.match(sql)
                if match is None:
                    return
                table = match.group(1).strip('"').lower()
                if key in self._open:
                    self._open[key].add(table)
                else:  # autocommit: a write outside a transaction commits by itself
                    self.commits[_kind({table})] += 1
