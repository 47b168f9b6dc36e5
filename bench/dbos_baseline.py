"""The cost of one trivial DBOS step on SQLite (WAL, synchronous=NORMAL, no pool pre-ping: the
settings tether's durable runs use), in a fresh process.

This is the floor under a durable agent step, which is two DBOS steps (a model call, a tool
call). Prints the median milliseconds per step as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from dbos import DBOS, DBOSPortableJSONSerializer
from sqlalchemy import event

N = 500


@event.listens_for(sa.Engine, "connect")
def _normal(dbapi: object, _record: object) -> None:
    if isinstance(dbapi, sqlite3.Connection):
        dbapi.execute("PRAGMA synchronous=NORMAL")


@DBOS.step(name="bench.trivial")
async def trivial(i: int) -> list[str]:
    return [f"ref-{i}"]


@DBOS.workflow(name="bench.loop")
async def loop(n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        await trivial(i)
    return (time.perf_counter() - started) / n * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dbos.db"
        sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
        DBOS(
            config={
                "name": "tether-bench",
                "system_database_url": f"sqlite:///{path}",
                "executor_id": "bench",
                "application_version": "bench",
                "log_level": "WARNING",
                "serializer": DBOSPortableJSONSerializer(),
                "db_engine_kwargs": {"pool_pre_ping": False},
            }
        )
        DBOS.launch()
        try:
            ms = asyncio.run(loop(N))
        finally:
            DBOS.destroy()
    json.dump({"ms_per_step": ms}, sys.stdout)


if __name__ == "__main__":
    main()
