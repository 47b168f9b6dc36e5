"""One commit per durable step: the step's journal events go into DBOS's own transaction.

A model or tool step used to commit its journal events, then DBOS committed the step's record
(its output: the events' ids) in a second transaction. Here the step stages its events
(``tether.agent.context.deferring``) and DBOS's transaction that records the step inserts them
too, on the same connection (the journal and DBOS's tables share the database, DESIGN §2.2):
both commit, or neither does. A crash before that commit leaves no trace of the step, so its
replay runs it again, as it would after a crash before the journal's own commit; a side
effect's intent still commits on its own before the call (``record_many(commit=True)``).

DBOS offers no hook for this, so ``install`` wraps two methods of DBOS's system database object
(``dbos==3.4.0``, pinned): ``_record_operation_result_txn`` inserts the staged events of the
step it records, ``record_operation_result`` forgets them once that transaction committed (a
retried transaction inserts them again; inserts are idempotent). Where those methods are not
there, nothing is wrapped and steps commit their events themselves, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from dbos import DBOS

from tether.agent.context import Deferred, deferring
from tether.store.journal import Journal

log = logging.getLogger("tether.durable")

StepKey = tuple[str, int]  # (DBOS workflow id, step id)


@dataclass
class Folds:
    """The staged journal events of the steps executing in this process, by step."""

    journal: Journal
    pending: dict[StepKey, Deferred] = field(default_factory=dict)
    installed: bool = False

    @contextmanager
    def step(self) -> Iterator[None]:
        """Around a DBOS step's body: its journal events wait for the step's record."""
        if not self.installed:
            yield
            return
        workflow, step = DBOS.workflow_id, DBOS.step_id
        if workflow is None or step is None:  # not inside a DBOS step: commit as usual
            yield
            return
        key = (workflow, step)
        deferred = self.pending[key] = Deferred()
        with deferring(deferred):
            yield

    def drop(self, workflow: str) -> None:
        """Forget what a workflow's steps staged (a segment that ended, however it ended)."""
        for key in [k for k in list(self.pending) if k[0] == workflow]:
            self.pending.pop(key, None)

    def _insert(self, result: dict[str, Any], conn: sa.Connection) -> None:
        deferred = self.pending.get((result["workflow_uuid"], result["function_id"]))
        if deferred is not None and deferred.batches:
            self.journal.write(conn, deferred.batches)

    def _recorded(self, result: dict[str, Any]) -> None:
        deferred = self.pending.pop((result["workflow_uuid"], result["function_id"]), None)
        if deferred is not None:
            deferred.open = False


def install(folds: Folds, sys_db: object) -> bool:
    """Wrap ``sys_db``'s step recording (see the module docstring); False if it cannot be."""
    txn: Callable[..., Any] | None = getattr(sys_db, "_record_operation_result_txn", None)
    record: Callable[..., Any] | None = getattr(sys_db, "record_operation_result", None)
    if txn is None or record is None:
        log.warning(
            "DBOS's system database has no _record_operation_result_txn (dbos upgraded?); "
            "journal events commit apart from DBOS's step records (one more commit per step)"
        )
        return False

    def record_txn(result: dict[str, Any], *args: Any, **kw: Any) -> None:
        txn(result, *args, **kw)  # DBOS's own checks (owner, nondeterminism) first
        folds._insert(result, kw["conn"] if "conn" in kw else args[1])

    def record_result(result: dict[str, Any], **kw: Any) -> None:
        record(result, **kw)
        folds._recorded(result)

    sys_db._record_operation_result_txn = record_txn  # type: ignore[attr-defined]
    sys_db.record_operation_result = record_result  # type: ignore[attr-defined]
    folds.installed = True
    return True
