"""What the app serves with: the runtime, the keys, the approvals API, how runs get executed.

Runs created over HTTP are put on the DBOS queue that ``tether worker`` processes execute
(``serve --workers 0``, the default), or executed by this process itself (``--workers N``: DBOS
launched here with a queue of N). Blocking store calls run in FastAPI's thread pool (sync
route functions), never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request

from tether.agent.spec import NAME_PATTERN, Agent, load_agent
from tether.errors import ConfigError
from tether.governance.approvals import Approvals
from tether.service.calls import CallStats
from tether.service.keys import KeyStore
from tether.service.triggers import Trigger, load_triggers

if TYPE_CHECKING:
    from tether.memory.store import SemanticStore
    from tether.runtime import Runtime

log = logging.getLogger("tether.service")


class UnknownAgent(ConfigError):
    """A request names an agent the service does not have (404)."""


@dataclass(kw_only=True)
class Service:
    runtime: Runtime
    agents_dir: Path  # agents by name: AGENTS_DIR/NAME.yaml, then the packaged examples
    workers: int = 0  # runs this process executes at once; 0: only `tether worker` processes
    triggers_file: Path = field(default_factory=lambda: Path("triggers.yaml"))
    notifications_file: Path = field(default_factory=lambda: Path("notifications.yaml"))
    keys: KeyStore = field(init=False)
    approvals: Approvals = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _sweeper: threading.Thread | None = None
    calls: CallStats = field(default_factory=CallStats)  # /metrics' call latencies
    _agents: dict[Path, tuple[str, Agent]] = field(default_factory=dict)  # by file, with text
    _memory: SemanticStore | None = None
    _memory_lock: threading.Lock = field(default_factory=threading.Lock)
    _background: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        store = self.runtime.store  # opened (and migrated) now, not by the first request
        self.keys = KeyStore(store.engine)
        self.approvals = Approvals(self.runtime)

    def agent(self, name: str) -> Agent:
        """An agent by name only (never a path from a request); ``UnknownAgent`` if none."""
        from tether.cli.main import EXAMPLES

        if not re.match(NAME_PATTERN, name):
            raise UnknownAgent(f"field 'agent': {name!r} is not an agent name")
        for path in (self.agents_dir / f"{name}.yaml", EXAMPLES / f"{name}.yaml"):
            if path.is_file():
                return self._load(path)
        raise UnknownAgent(
            f"field 'agent': no agent {name!r}; put {self.agents_dir / (name + '.yaml')} "
            "in the project or use a packaged one"
        )

    def _load(self, path: Path) -> Agent:
        """The agent in ``path``, parsed again only when the file's text changed (so an edit
        applies at the next request, and a busy API does not parse YAML per run)."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return load_agent(path)  # which names the problem
        cached = self._agents.get(path)
        if cached is not None and cached[0] == text:
            return cached[1]
        agent = load_agent(path)
        self._agents[path] = (text, agent)
        return agent

    def memory(self) -> SemanticStore:
        """The tenants' semantic memory (``/v1/memory``), made on first use: the embedder
        (the runtime's, or ``TETHER_EMBED_MODEL``'s) loads only when memory is used."""
        with self._memory_lock:
            if self._memory is None:
                from tether.memory.services import embedder_from_settings
                from tether.memory.store import SemanticStore

                rt = self.runtime
                self._memory = SemanticStore(
                    rt.store.engine,
                    rt.embedder or embedder_from_settings(rt.settings),
                    cache_ttl_s=rt.settings.memory_cache_ttl_s,
                    sealer=rt.sealer,
                )
            return self._memory

    def start(self) -> None:
        """Launch DBOS here when this process executes runs, and sweep approvals; run the
        notifier and the event-trigger listeners (``tether.service.background``)."""
        from tether.service.background import start_background

        self._background = start_background(
            self.runtime,
            owner=self.runtime.settings.executor_id or "serve",
            notifications_file=self.notifications_file,
            triggers_file=self.triggers_file,
            agents_dir=self.agents_dir,
            stop=self._stop,
        )
        if self.workers <= 0:
            return
        from tether.durable import engine

        engine.launch(
            self.runtime,
            executor_id=self.runtime.settings.executor_id or "serve",
            kind="worker",
            lease_s=self.runtime.settings.lease_s,
            queue=True,
        )
        self._sweeper = threading.Thread(target=self._sweep, name="approvals-sweep", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in [*self._background, *([self._sweeper] if self._sweeper else [])]:
            thread.join(timeout=5)
        if self.workers > 0:
            from tether.durable import engine

            engine.shutdown(wait_s=10)
        made = self._memory.embedder if self._memory is not None else None
        close = getattr(made, "close", None)
        if close is not None and made is not self.runtime.embedder:
            close()
        self.runtime.close()

    def _sweep(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.approvals.sweep()
            except Exception:  # retried at the next tick
                log.warning("approvals sweep failed", exc_info=True)

    def submit(
        self,
        agent: Agent,
        goal: str,
        *,
        tenant: str,
        model: str | None,
        origin: dict[str, Any] | None = None,
        session: str | None = None,
        subject: str | None = None,
        user_group: str | None = None,
    ) -> str:
        """Create a run and queue it, from a thread without an event loop."""
        return asyncio.run(
            self.runtime.submit(
                agent,
                goal,
                model=model,
                tenant=tenant,
                origin=origin,
                session=session,
                subject=subject,
                user_group=user_group,
            )
        )

    async def submit_async(
        self,
        agent: Agent,
        goal: str,
        *,
        tenant: str,
        model: str | None,
        session: str | None = None,
        subject: str | None = None,
        user_group: str | None = None,
    ) -> str:
        """Create a run and queue it on the server's event loop: its blocking writes go to the
        loop's thread pool (no event loop and no threads made per request). ``user_group``:
        the caller's key's group (feature flags)."""
        return await self.runtime.submit(
            agent,
            goal,
            model=model,
            tenant=tenant,
            session=session,
            subject=subject,
            user_group=user_group,
        )

    def triggers(self) -> dict[str, Trigger]:
        """The project's webhook triggers, read at each request (edits apply at once)."""
        return load_triggers(self.triggers_file)


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc
