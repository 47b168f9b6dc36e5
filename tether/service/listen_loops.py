"""The listeners' connection loops: PostgreSQL ``LISTEN`` and Redis consumer groups.

Each loop runs in its own thread until ``stop`` is set, reconnecting with a doubling backoff
(0.5 s up to 30 s) when the connection drops; ``on_ready(name)`` is called each time it is
listening. A failed start of a run (the database away) is logged; a Redis entry is then left
unacknowledged and claimed again after ``reclaim_after_s``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.service.listeners import PostgresListener, RedisListener, Starter

log = logging.getLogger("tether.listeners")
_MAX_BACKOFF_S = 30.0


def _retry(name: str, stop: threading.Event, backoff: float, exc: BaseException) -> float:
    log.warning("listener %s: connection lost (%s); reconnecting in %.1fs", name, exc, backoff)
    stop.wait(backoff)
    return min(_MAX_BACKOFF_S, backoff * 2)


def postgres(
    spec: PostgresListener,
    url: str,
    handle: Starter,
    stop: threading.Event,
    on_ready: Callable[[str], None],
) -> None:
    import psycopg
    from psycopg import sql

    from tether.service.listeners import body_key, parse_json

    backoff = 0.5
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(spec.channel)))
                on_ready(spec.name)
                backoff = 0.5
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        _safely(spec.name, handle, parse_json(note.payload), body_key(note.payload))
        except psycopg.Error as exc:
            backoff = _retry(spec.name, stop, backoff, exc)


def _safely(name: str, handle: Starter, payload: Any, key: str) -> bool:
    try:
        handle(payload, key)
    except Exception:
        log.warning("listener %s could not start a run", name, exc_info=True)
        return False
    return True


def _payload(spec: RedisListener, fields: dict[str, str]) -> Any:
    raw = fields.get(spec.field)
    if raw is None:
        return fields
    try:
        return json.loads(raw)
    except ValueError:
        return fields


def redis_stream(
    spec: RedisListener,
    url: str,
    handle: Starter,
    stop: threading.Event,
    on_ready: Callable[[str], None],
    *,
    consumer: str,
) -> None:
    import redis

    backoff = 0.5
    while not stop.is_set():
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=10)
        try:
            try:
                client.xgroup_create(spec.stream, spec.group, id="$", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            on_ready(spec.name)
            backoff = 0.5
            _consume(client, spec, handle, stop, consumer)
        except redis.RedisError as exc:
            backoff = _retry(spec.name, stop, backoff, exc)
        finally:
            client.close()


def _consume(
    client: Any, spec: RedisListener, handle: Starter, stop: threading.Event, consumer: str
) -> None:
    idle_ms = int(spec.reclaim_after_s * 1000)
    # first this consumer's own entries, read but not acknowledged before a crash or a drop
    entries = _read(client, spec, consumer, "0", block=None)
    rounds = 0
    while not stop.is_set():
        if rounds % 30 == 0:  # entries another (dead) consumer read but never acknowledged
            _, claimed, *_ = client.xautoclaim(spec.stream, spec.group, consumer, idle_ms, "0-0")
            entries += [(i, f) for i, f in claimed if f]
        rounds += 1
        entries += _read(client, spec, consumer, ">", block=1000)
        for entry_id, fields in entries:
            if _safely(spec.name, handle, _payload(spec, fields), f"entry:{entry_id}"):
                client.xack(spec.stream, spec.group, entry_id)
        entries = []


def _read(
    client: Any, spec: RedisListener, consumer: str, start: str, *, block: int | None
) -> list[tuple[str, dict[str, str]]]:
    found: list[tuple[str, dict[str, str]]] = []
    answer = client.xreadgroup(spec.group, consumer, {spec.stream: start}, count=16, block=block)
    for _, batch in answer or []:
        found += [(i, f) for i, f in batch if f]
    return found
