"""Event triggers run by two real `tether worker` processes: each Redis stream entry and each
PostgreSQL NOTIFY starts exactly one run, with its origin journaled, and a listener whose
connection drops reconnects and goes on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.governance.test_approvals_durable import stop
from tests.redis_server import RedisServer
from tests.test_durable import Env
from tether import Runtime
from tether.errors import ConfigError
from tether.service.listeners import Starter, event_run_id, load_listeners
from tether.settings import Settings

ECHOER = "name: echoer\ninstructions: Say done.\nmodel: python:tests.durable_models:model\n"
REDIS_TRIGGERS = """
listeners:
  - name: order-stream
    source: redis
    stream: orders
    url_secret: orders_redis
    agent: echoer
    tenant: acme
    goal: "Confirm order {order.id}"
"""
PG_TRIGGERS = """
listeners:
  - name: new-order
    source: postgres
    channel: new_order
    agent: echoer
    tenant: acme
    goal: "Confirm order {order.id}"
    dedupe: "{order.id}"
"""


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


def project(tmp_path: Path, triggers: str) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "echoer.yaml").write_text(ECHOER)
    (tmp_path / "triggers.yaml").write_text(triggers)


def started(db_url: str) -> list[tuple[str, dict[str, object]]]:
    """(goal, origin) of each run a listener started."""
    engine = sa.create_engine(db_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            if "tether_events" not in names:
                return []
            rows = conn.execute(
                sa.text(
                    "SELECT r.goal, e.payload FROM tether_runs r JOIN tether_events e"
                    " ON e.run_id = r.id AND e.kind = 'run_started' WHERE r.tenant = 'acme'"
                )
            ).all()
    finally:
        engine.dispose()
    out = []
    for goal, payload in rows:
        origin = (json.loads(payload) if isinstance(payload, str) else payload)["origin"]
        out.append((str(goal), origin))
    return sorted(out, key=lambda r: r[0])


def wait_until(check: object, what: str, env: Env, procs: list[object]) -> None:
    deadline = time.monotonic() + 120
    while not check():  # type: ignore[operator]
        logs = [env.output(p) for p in procs]  # type: ignore[arg-type]
        assert time.monotonic() < deadline, f"{what} did not happen: {logs}"
        assert all(p.poll() is None for p in procs), logs  # type: ignore[attr-defined]
        time.sleep(0.2)


def ready(env: Env, proc: object, name: str, times: int = 1) -> bool:
    return env.output(proc).count(f"listener {name} ready") >= times  # type: ignore[arg-type]


def test_each_stream_entry_starts_one_run_with_two_workers_across_a_restart(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    project(tmp_path, REDIS_TRIGGERS)
    env = Env(
        tmp_path,
        TETHER_TEST_STEPS="0",
        TETHER_LEASE_S="30",
        TETHER_SECRET_ORDERS_REDIS=redis_server.url,
    )
    db = f"sqlite:///{tmp_path / 'home' / 'tether.db'}"
    workers = [env.spawn("worker", "--executor-id", f"w{i}") for i in (1, 2)]
    try:
        wait_until(
            lambda: all(ready(env, w, "order-stream") for w in workers), "ready", env, workers
        )
        with redis_server.client() as r:
            for n in range(1, 6):
                r.xadd("orders", {"payload": json.dumps({"order": {"id": n}})})
        wait_until(lambda: len(started(db)) >= 5, "5 runs", env, workers)
        with redis_server.client() as r:
            wait_until(lambda: r.xpending("orders", "tether")["pending"] == 0, "acks", env, workers)
        # the server dies and comes back (its stream and group kept on disk): both reconnect
        redis_server.kill()
        redis_server.start()
        with redis_server.client() as r:
            r.xadd("orders", {"payload": json.dumps({"order": {"id": 6}})})
        wait_until(lambda: len(started(db)) >= 6, "the 6th run", env, workers)
        with redis_server.client() as r:
            wait_until(lambda: r.xpending("orders", "tether")["pending"] == 0, "acks", env, workers)
            consumers = {c["name"] for c in r.xinfo_consumers("orders", "tether")}
    finally:
        for w in workers:
            stop(env, w)
    runs = started(db)
    assert [g for g, _ in runs] == [f"Confirm order {n}" for n in range(1, 7)]  # once each
    assert all(o["listener"] == "order-stream" and o["source"] == "redis" for _, o in runs)
    assert len({o["delivery"] for _, o in runs}) == 6
    assert consumers <= {"w1", "w2"} and consumers
    assert all("connection lost" in env.output(w) for w in workers)


def test_each_notify_starts_one_run_with_two_workers_and_a_dropped_listener_reconnects(
    tmp_path: Path, pg_url: str
) -> None:
    project(tmp_path, PG_TRIGGERS)
    env = Env(tmp_path, TETHER_TEST_STEPS="0", TETHER_LEASE_S="30", TETHER_DB=pg_url)
    workers = [env.spawn("worker", "--executor-id", f"w{i}") for i in (1, 2)]

    def notify(*orders: int) -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for n in orders:
                payload = json.dumps({"order": {"id": n}, "sent": time.monotonic_ns()})
                conn.execute("SELECT pg_notify('new_order', %s)", (payload,))

    try:
        wait_until(lambda: all(ready(env, w, "new-order") for w in workers), "ready", env, workers)
        notify(1, 1, 2, 3)  # order 1 twice: its dedupe key starts it once
        wait_until(lambda: len(started(pg_url)) >= 3, "3 runs", env, workers)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
            )
        wait_until(
            lambda: all(ready(env, w, "new-order", 2) for w in workers), "reconnect", env, workers
        )
        notify(4)
        wait_until(lambda: len(started(pg_url)) >= 4, "the 4th run", env, workers)
    finally:
        for w in workers:
            stop(env, w)
    runs = started(pg_url)
    assert [g for g, _ in runs] == [f"Confirm order {n}" for n in range(1, 5)]
    assert [o["delivery"] for _, o in runs] == [f"key:{n}" for n in range(1, 5)]
    assert all(o["listener"] == "new-order" and o["source"] == "postgres" for _, o in runs)


def test_an_event_delivered_twice_or_to_two_listeners_is_one_run(tmp_path: Path) -> None:
    project(tmp_path, REDIS_TRIGGERS)
    rt = Runtime(settings=Settings(home=tmp_path / "home"))
    (spec,) = load_listeners(tmp_path / "triggers.yaml")
    starters = [Starter(runtime=rt, agents_dir=tmp_path / "agents", listener=spec) for _ in "ab"]
    payload = {"order": {"id": 7}}
    first = starters[0](payload, "entry:1-0")
    again = [s(payload, "entry:1-0") for s in starters]  # a redelivery, another listener
    other = starters[1](payload, "entry:2-0")
    assert first == event_run_id("order-stream", "entry:1-0") and again == [first, first]
    assert other is not None and other != first
    goals = sorted(r.goal for r in rt.store.runs.list(tenant="acme"))
    assert goals == ["Confirm order 7", "Confirm order 7"]  # two entries, two runs; no more
    dropped = starters[0]({"no": "order"}, "entry:3-0")  # the template's field is missing
    assert dropped is None and len(rt.store.runs.list(tenant="acme")) == 2
    rt.close()


def test_a_bad_listener_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "triggers.yaml"
    path.write_text(REDIS_TRIGGERS.replace("stream: orders", "channel: orders"))
    with pytest.raises(ConfigError, match=r"field 'listeners\.0\.redis\.stream': Field required"):
        load_listeners(path)
    path.write_text(PG_TRIGGERS.replace("source: postgres", "source: kafka"))
    with pytest.raises(ConfigError, match=r"field 'listeners\.0'"):
        load_listeners(path)
