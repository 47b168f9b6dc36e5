"""Episodic memory: one episode per finished run, recalled by similarity and recency.

An episode holds the run's task (its goal), its actions (tool name, arguments as journaled,
whether it worked, and a reference to the ``tool_call_finished`` event that holds the result),
its outcome (``success``, ``failure`` or ``partial``) and notes (the answer or the reason it
stopped). :func:`episode_from_events` builds it from the run's journal (already redacted), so
writing it is a pure function of what was journaled; its id is derived from the tenant and
the run id and the row is inserted only if absent, so a replayed finish step writes it once.

Recall (:meth:`EpisodicStore.recall`) takes the newest candidates allowed by the filters
(tenant always; agent and subject by the agent's ``share`` policy; expiry, freshness and PII
by its read policy), embeds the query and scores each candidate by
:func:`tether.memory.policy.combined_score`: ``0.7 * cosine + 0.3 * 0.5 ** (age / 7 days)``.
Episodes are data: their text came from a model and tools (trust ``tool``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tether.clock import Clock, SystemClock
from tether.errors import UsageError
from tether.events import Event, RunFinished, RunStarted, ToolCallFinished, ToolCallStarted
from tether.memory.embed import Embedder
from tether.memory.policy import HALF_LIFE_S, RECENCY_WEIGHT, combined_scores, data_labels
from tether.memory.sealing import embed_text, open_episodes, seal_episode
from tether.privacy.seal import Sealer
from tether.store.schema import memory_episodes as episodes
from tether.types import RunStatus

Outcome = Literal["success", "failure", "partial"]
_PARTIAL = frozenset(
    {RunStatus.MAX_STEPS, RunStatus.BUDGET_EXCEEDED, RunStatus.NO_PROGRESS, RunStatus.NEEDS_REVIEW}
)
CANDIDATES = 1000  # the newest episodes that pass the filters are scored, per recall
NOTES_CHARS = 500


def outcome_of(status: RunStatus) -> Outcome:
    """``succeeded`` → success; a limit or ``needs_review`` → partial; anything else failure."""
    if status is RunStatus.SUCCEEDED:
        return "success"
    return "partial" if status in _PARTIAL else "failure"


def episode_id(tenant: str, run_id: str) -> str:
    return "ep_" + hashlib.sha256(f"{tenant}\x1f{run_id}".encode()).hexdigest()[:29]


@dataclass(frozen=True, kw_only=True)
class Action:
    tool: str
    arguments: dict[str, Any]
    ok: bool
    result_ref: str  # the id of the tool_call_finished event that holds the result

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "arguments": self.arguments,
            "ok": self.ok,
            "result_ref": self.result_ref,
        }


@dataclass(frozen=True, kw_only=True)
class Episode:
    id: str
    tenant: str
    agent: str
    subject: str | None
    run_id: str
    task: str
    actions: tuple[Action, ...]
    outcome: Outcome
    status: str
    notes: str
    created_at: datetime
    expires_at: datetime | None = None
    trust: str = "tool"
    labels: tuple[str, ...] = ()
    pii: bool = False

    @property
    def embed_text(self) -> str:
        tools = ", ".join(dict.fromkeys(a.tool for a in self.actions))
        return (
            f"{self.task}\ntools: {tools}\n{self.notes}" if tools else f"{self.task}\n{self.notes}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "agent": self.agent,
            "subject": self.subject,
            "task": self.task,
            "actions": [a.to_json() for a in self.actions],
            "outcome": self.outcome,
            "status": self.status,
            "notes": self.notes,
            "trust": self.trust,
            "origin": "retrieval",
            "labels": list(self.labels),
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, kw_only=True)
class Recalled:
    episode: Episode
    score: float
    similarity: float
    age_s: float

    def to_json(self) -> dict[str, Any]:
        return self.episode.to_json() | {
            "score": round(self.score, 6),
            "similarity": round(self.similarity, 6),
        }


def episode_from_events(
    events: Iterable[Event],
    *,
    tenant: str,
    agent: str,
    subject: str | None,
    now: datetime,
    ttl_s: float | None = None,
) -> Episode | None:
    """The episode of a finished run from its journal; None until ``run_finished`` is in it."""
    started: RunStarted | None = None
    run_id = ""
    finished: RunFinished | None = None
    intents: dict[tuple[int, int, int], ToolCallStarted] = {}
    actions: list[Action] = []
    for event in events:
        p, k = event.payload, event.key
        if isinstance(p, RunStarted):
            started, run_id = p, k.run_id
        elif isinstance(p, ToolCallStarted):
            intents[(k.segment, k.step, k.index)] = p
        elif isinstance(p, ToolCallFinished):
            intent = intents.get((k.segment, k.step, k.index))
            arguments = intent.arguments if intent is not None else {}
            actions.append(Action(tool=p.tool, arguments=arguments, ok=p.ok, result_ref=event.id))
        elif isinstance(p, RunFinished):
            finished = p
    if started is None or finished is None:
        return None
    status = RunStatus(finished.status)
    notes = (
        f"answer: {finished.output}" if finished.output else f"stopped: {finished.reason or ''}"
    )[:NOTES_CHARS]
    labels, pii = data_labels([started.goal, notes, [a.arguments for a in actions]])
    return Episode(
        id=episode_id(tenant, run_id),
        tenant=tenant,
        agent=agent,
        subject=subject,
        run_id=run_id,
        task=started.goal,
        actions=tuple(actions),
        outcome=outcome_of(status),
        status=status.value,
        notes=notes,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s) if ttl_s is not None else None,
        labels=tuple(labels),
        pii=pii,
    )


@dataclass
class EpisodicStore:
    """Episodes over one engine. ``embedder`` may be None: episodes are then stored without a
    vector and embedded by the first recall that has an embedder."""

    engine: sa.Engine
    embedder: Embedder | None = None
    clock: Clock = field(default_factory=SystemClock)
    half_life_s: float = HALF_LIFE_S
    recency_weight: float = RECENCY_WEIGHT
    sealer: Sealer | None = None  # PII sealed with the subject's key (tether/memory/sealing.py)

    # -- writing ------------------------------------------------------------------------------

    def sealed(self, episode: Episode) -> Episode:
        """``episode`` as stored: its PII sealed when the store has a sealer."""
        return seal_episode(self.sealer, episode)

    def row(self, episode: Episode, vector: Any = None) -> dict[str, Any]:
        """The table row of ``episode`` (with ``vector``, float32, if given); pass it
        :meth:`sealed` first."""
        vec = None if vector is None else np.ascontiguousarray(vector, dtype=np.float32)
        return {
            "id": episode.id,
            "tenant": episode.tenant,
            "agent": episode.agent,
            "subject": episode.subject,
            "run_id": episode.run_id,
            "task": episode.task,
            "actions": json.dumps([a.to_json() for a in episode.actions], ensure_ascii=False),
            "outcome": episode.outcome,
            "status": episode.status,
            "notes": episode.notes,
            "trust": episode.trust,
            "labels": json.dumps(list(episode.labels)),
            "pii": episode.pii,
            "model": self.embedder.model if vec is not None and self.embedder else None,
            "dim": None if vec is None else int(vec.shape[0]),
            "embedding": None if vec is None else vec.tobytes(),
            "created_at": episode.created_at,
            "expires_at": episode.expires_at,
        }

    def vector(self, episode: Episode) -> Any:
        """The episode's embedding, or None without an embedder."""
        if self.embedder is None:
            return None
        return self.embedder.embed([embed_text(episode)])[0]

    @staticmethod
    def insert(conn: sa.Connection, row: dict[str, Any]) -> bool:
        """Insert ``row`` unless the run's episode exists (in the caller's transaction)."""
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(episodes).values(**row).on_conflict_do_nothing().returning(episodes.c.id)
        return conn.execute(stmt).first() is not None  # rowcount is -1 on psycopg here

    def add(self, episode: Episode) -> bool:
        """Store ``episode`` (embedded when there is an embedder); False if it was there."""
        _check_tenant(episode.tenant)
        episode = self.sealed(episode)
        row = self.row(episode, self.vector(episode))
        with self.engine.begin() as conn:
            return self.insert(conn, row)

    # -- reading ------------------------------------------------------------------------------

    def get(self, tenant: str, episode_id: str) -> Episode | None:
        _check_tenant(tenant)
        stmt = sa.select(episodes).where(episodes.c.tenant == tenant, episodes.c.id == episode_id)
        with self.engine.connect() as conn:
            found = conn.execute(stmt).first()
        return None if found is None else self._opened(tenant, [_episode(found)])[0]

    def recent(
        self,
        tenant: str,
        *,
        agent: str | None = None,
        subject: str | None = None,
        limit: int = 50,
    ) -> list[Episode]:
        """The tenant's episodes, newest first (expired ones included: this is the operator's
        view; agents read through :meth:`recall`)."""
        _check_tenant(tenant)
        stmt = sa.select(episodes).where(*_where(tenant, agent, subject))
        stmt = stmt.order_by(episodes.c.created_at.desc(), episodes.c.id).limit(limit)
        with self.engine.connect() as conn:
            found = [_episode(r) for r in conn.execute(stmt)]
        return self._opened(tenant, found)

    def _opened(self, tenant: str, found: Sequence[Episode]) -> list[Episode]:
        return open_episodes(self.sealer, tenant, found)

    def recall(
        self,
        tenant: str,
        query: str,
        *,
        k: int = 3,
        agent: str | None = None,
        subject: str | None = None,
        exact_subject: bool = False,
        max_age_s: float | None = None,
        allow_pii: bool = False,
    ) -> list[Recalled]:
        """The ``k`` episodes of ``tenant`` (filtered by ``agent`` and ``subject`` when given;
        ``exact_subject``: a None subject means episodes without one) that best match
        ``query`` by similarity and recency."""
        _check_tenant(tenant)
        if self.embedder is None:
            raise UsageError("recalling episodes needs an embedder; pass one to EpisodicStore")
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        now = self.clock.now()
        conds = [
            *_where(tenant, agent, subject, exact_subject),
            sa.or_(episodes.c.expires_at.is_(None), episodes.c.expires_at > now),
        ]
        if max_age_s is not None:
            conds.append(episodes.c.created_at >= now - timedelta(seconds=max_age_s))
        if not allow_pii:
            conds.append(episodes.c.pii == sa.false())
        c = episodes.c
        stmt = (
            sa.select(c.id, c.created_at, c.model, c.dim, c.embedding)
            .where(*conds)
            .order_by(c.created_at.desc(), c.id)
            .limit(CANDIDATES)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return []
        vectors = self._vectors(tenant, rows)
        qvec = self.embedder.embed([query])[0].astype(np.float32)
        sims = vectors @ qvec
        stamp = now.timestamp()
        ages = np.array([stamp - r.created_at.timestamp() for r in rows], dtype=np.float64)
        scores = combined_scores(
            sims, ages, weight=self.recency_weight, half_life_s=self.half_life_s
        )
        top = np.argsort(-scores, kind="stable")[:k]
        full = self._full(tenant, [rows[int(i)].id for i in top])
        return [
            Recalled(
                episode=full[rows[int(i)].id],
                score=float(scores[i]),
                similarity=float(sims[i]),
                age_s=float(ages[i]),
            )
            for i in top
            if rows[int(i)].id in full
        ]

    def _full(self, tenant: str, ids: Sequence[str], *, opened: bool = True) -> dict[str, Episode]:
        stmt = sa.select(episodes).where(episodes.c.tenant == tenant, episodes.c.id.in_(ids))
        with self.engine.connect() as conn:
            found = [_episode(r) for r in conn.execute(stmt)]
        return {e.id: e for e in (self._opened(tenant, found) if opened else found)}

    def _vectors(self, tenant: str, rows: Sequence[Any]) -> Any:
        """The rows' vectors of this embedder's model; rows without one are embedded now and
        the vector stored (episodes written without an embedder, or by another model)."""
        assert self.embedder is not None
        model = self.embedder.model
        missing = [i for i, r in enumerate(rows) if r.embedding is None or r.model != model]
        fresh: dict[int, Any] = {}
        if missing:
            full = self._full(tenant, [rows[i].id for i in missing], opened=False)
            made = self.embedder.embed([embed_text(full[rows[i].id]) for i in missing])
            fresh = dict(zip(missing, made, strict=True))
            with self.engine.begin() as conn:
                for i, vec in fresh.items():
                    v = np.ascontiguousarray(vec, dtype=np.float32)
                    conn.execute(
                        sa.update(episodes)
                        .where(episodes.c.id == rows[i].id)
                        .values(model=model, dim=int(v.shape[0]), embedding=v.tobytes())
                    )
        return np.stack(
            [
                fresh[i]
                if i in fresh
                else np.frombuffer(r.embedding, dtype=np.float32, count=r.dim)
                for i, r in enumerate(rows)
            ]
        ).astype(np.float32)

    # -- deleting -----------------------------------------------------------------------------

    def delete_subject(self, tenant: str, subject: str) -> list[str]:
        """Delete every episode of ``subject`` in ``tenant``; returns their ids (for forget)."""
        _check_tenant(tenant)
        where = (episodes.c.tenant == tenant, episodes.c.subject == subject)
        with self.engine.begin() as conn:
            ids = list(conn.scalars(sa.select(episodes.c.id).where(*where)))
            conn.execute(sa.delete(episodes).where(*where))
        return ids

    def delete_run(self, tenant: str, run_id: str) -> bool:
        """Delete the episode of one run."""
        _check_tenant(tenant)
        stmt = (
            sa.delete(episodes)
            .where(episodes.c.tenant == tenant, episodes.c.run_id == run_id)
            .returning(episodes.c.id)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None


def _where(
    tenant: str, agent: str | None, subject: str | None, exact_subject: bool = False
) -> list[sa.ColumnElement[bool]]:
    """``subject``: only its episodes; ``exact_subject``: also when None (no subject's)."""
    conds = [episodes.c.tenant == tenant]
    if agent is not None:
        conds.append(episodes.c.agent == agent)
    if subject is not None:
        conds.append(episodes.c.subject == subject)
    elif exact_subject:
        conds.append(episodes.c.subject.is_(None))
    return conds


def _check_tenant(tenant: str) -> None:
    if not tenant:
        raise UsageError("memory calls need a tenant; pass one (TETHER_TENANT, default 'default')")


def _episode(row: sa.Row[Any]) -> Episode:
    return Episode(
        id=row.id,
        tenant=row.tenant,
        agent=row.agent,
        subject=row.subject,
        run_id=row.run_id,
        task=row.task,
        actions=tuple(Action(**a) for a in json.loads(row.actions)),
        outcome=row.outcome,
        status=row.status,
        notes=row.notes,
        created_at=row.created_at,
        expires_at=row.expires_at,
        trust=row.trust,
        labels=tuple(json.loads(row.labels)),
        pii=bool(row.pii),
    )
