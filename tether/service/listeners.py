"""Event triggers: runs started by PostgreSQL ``NOTIFY`` or by entries on a Redis stream.

Declared in ``triggers.yaml`` beside the webhook triggers, with the same templates::

    listeners:
      - name: new-order
        source: postgres            # LISTEN new_order (NOTIFY new_order, '{"order": ...}')
        channel: new_order
        agent: assistant
        tenant: acme
        goal: "Confirm order {order.id}"
        dedupe: "{order.id}"        # optional
      - name: order-stream
        source: redis               # XREADGROUP on the stream, in the consumer group
        stream: orders
        url_secret: orders_redis    # the secret holding redis://...
        agent: assistant
        tenant: acme
        goal: "Confirm order {order.id}"

A PostgreSQL listener connects to ``url_secret``'s URL or, without one, to tether's own
database. A notification's payload, and a stream entry's ``payload`` field (or else all its
fields), is the JSON the templates read. ``tether worker`` and ``tether serve`` run one thread
per listener, reconnecting with backoff. Every process's listener hears every ``NOTIFY``, and
a stream entry may be delivered again after a crash, so each event's run id is derived from its
dedupe key (without one: the payload's hash for PostgreSQL, the entry id for Redis): it starts
one run however many listeners run, and a listener killed half-way is finished by the next
delivery (the delivery is also recorded in ``tether_trigger_deliveries``). Runs are proactive runs
like any other (policy, budgets), with ``origin: {listener, source, delivery}`` journaled.
A ``NOTIFY`` sent while no listener is connected is not stored by PostgreSQL: use a Redis
stream (entries wait in the stream, and unacknowledged ones are claimed again) where no event
may be missed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tether.agent.spec import NAME_PATTERN, Agent, load_agent
from tether.errors import ConfigError, RunNotFound, UsageError
from tether.service import triggers
from tether.store.engine import insert_ignoring_conflicts, write_transaction
from tether.store.schema import trigger_deliveries
from tether.types import RunStatus

if TYPE_CHECKING:
    from tether.runtime import Runtime

log = logging.getLogger("tether.listeners")
Handle = Callable[[Any, str], None]  # (payload, fallback delivery key)


class _Listener(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    agent: str = Field(pattern=NAME_PATTERN)
    tenant: str = Field(min_length=1, max_length=200)
    goal: str = Field(min_length=1, max_length=20_000, description="template: {field.sub}")
    dedupe: str | None = Field(default=None, description="template of a de-duplication key")
    url_secret: str | None = Field(default=None, description="the secret holding the URL")


class PostgresListener(_Listener):
    source: Literal["postgres"]
    channel: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class RedisListener(_Listener):
    source: Literal["redis"]
    stream: str = Field(min_length=1, max_length=200)
    group: str = Field(default="tether", min_length=1, max_length=200)
    field: str = Field(default="payload", description="the entry field holding JSON")
    reclaim_after_s: float = Field(default=60, gt=0, description="take over unacked entries")


Listener = Annotated[PostgresListener | RedisListener, Field(discriminator="source")]
_LIST = TypeAdapter(list[Listener])


def load_listeners(path: Path) -> list[PostgresListener | RedisListener]:
    """The ``listeners`` of ``path`` (none if the file does not exist)."""
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text()) or {}
        found = _LIST.validate_python(data.get("listeners") or [])
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("listeners", *first["loc"]))
        raise ConfigError(f"{path}: field '{where}': {first['msg']}") from None
    names = [x.name for x in found] + list(triggers.load_triggers(path))
    if len(set(names)) != len(names):
        raise ConfigError(
            f"{path}: field 'listeners': names must differ from each other and "
            "from the webhook triggers' names"
        )
    return found


def agent_by_name(agents_dir: Path, name: str) -> Agent:
    from tether.cli.main import EXAMPLES

    for path in (agents_dir / f"{name}.yaml", EXAMPLES / f"{name}.yaml"):
        if path.is_file():
            return load_agent(path)
    raise ConfigError(
        f"listener agent {name!r}: put {agents_dir / (name + '.yaml')} in the project"
    )


def event_run_id(listener: str, key: str) -> str:
    """The run id of ``listener``'s event ``key``: the same in every process and every retry."""
    digest = hashlib.sha256(f"{listener}\n{key}".encode()).hexdigest()
    return f"run_e{digest[:18]}"


@dataclass(kw_only=True)
class Starter:
    """Turns one event into exactly one run.

    The run's id is derived from the listener and the event's key, so whichever listener gets
    there first creates it and any other (or a retry after a crash) finds it; the segment is
    then (re-)enqueued, which DBOS keeps once. The delivery is recorded in
    ``tether_trigger_deliveries`` like a webhook's.
    """

    runtime: Runtime
    agents_dir: Path
    listener: PostgresListener | RedisListener

    def __call__(self, payload: Any, fallback_key: str) -> str | None:
        spec = self.listener
        try:
            goal = triggers.render(spec.goal, payload)
            dedupe = triggers.render(spec.dedupe, payload)[:400] if spec.dedupe else None
        except triggers.Rejected as exc:
            log.warning("listener %s dropped an event: %s", spec.name, exc)
            return None
        key = f"key:{dedupe}" if dedupe is not None else fallback_key
        run_id = event_run_id(spec.name, key)
        engine = self.runtime.store.engine
        with write_transaction(engine) as conn:
            conn.execute(
                insert_ignoring_conflicts(conn, trigger_deliveries).values(
                    trigger=spec.name, key=key, run_id=run_id, received_at=triggers.utcnow()
                )
            )
        if not self._exists(run_id):
            origin = {"listener": spec.name, "source": spec.source, "delivery": key}
            try:
                asyncio.run(
                    self.runtime.start(
                        agent_by_name(self.agents_dir, spec.agent),
                        goal,
                        status=RunStatus.QUEUED,
                        tenant=spec.tenant,
                        origin=origin,
                        run_id=run_id,
                    )
                )
            except UsageError:
                if not self._exists(run_id):
                    raise
                return None  # another listener created it just now (and enqueues it)
            log.info("listener %s started run %s", spec.name, run_id)
        from tether.durable import enqueue_run

        enqueue_run(self.runtime, run_id)  # idempotent: finishes what a crash interrupted
        return run_id

    def _exists(self, run_id: str) -> bool:
        try:
            self.runtime.store.runs.get(run_id)
        except RunNotFound:
            return False
        return True


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def body_key(text: str) -> str:
    return "body:" + hashlib.sha256(text.encode()).hexdigest()


def postgres_url(runtime: Runtime, spec: PostgresListener) -> str:
    url = runtime.secrets.get(spec.url_secret) if spec.url_secret else runtime.settings.db_url
    if not url or not url.startswith("postgresql"):
        raise ConfigError(
            f"listener {spec.name!r}: no PostgreSQL to listen on; set url_secret to a secret "
            "holding postgresql://... or use PostgreSQL as tether's database"
        )
    parsed = sa.engine.make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def redis_url(runtime: Runtime, spec: RedisListener) -> str:
    url = runtime.secrets.get(spec.url_secret) if spec.url_secret else None
    if not url:
        raise ConfigError(
            f"listener {spec.name!r}: set url_secret to a secret holding redis://HOST:PORT/DB"
        )
    return url


def start_listeners(
    runtime: Runtime,
    triggers_file: Path,
    agents_dir: Path,
    *,
    consumer: str,
    stop: threading.Event,
    on_ready: Callable[[str], None] = lambda name: None,
) -> list[threading.Thread]:
    """One daemon thread per listener of ``triggers_file``, running until ``stop`` is set."""
    from tether.service import listen_loops

    threads = []
    for spec in load_listeners(triggers_file):
        handle = Starter(runtime=runtime, agents_dir=agents_dir, listener=spec)
        target: Callable[[], None]
        if isinstance(spec, PostgresListener):
            url = postgres_url(runtime, spec)
            target = partial(listen_loops.postgres, spec, url, handle, stop, on_ready)
        else:
            url = redis_url(runtime, spec)
            target = partial(
                listen_loops.redis_stream, spec, url, handle, stop, on_ready, consumer=consumer
            )
        thread = threading.Thread(target=target, name=f"listener-{spec.name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
