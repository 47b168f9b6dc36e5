"""The episode of a finished run, written by the finish step (``memory.episodic.record``).

Built from the run's journal (redacted, so the episode holds what the journal holds), embedded,
and committed with its ``memory_written`` event in one transaction. Written once: the event is
keyed by the finish's position and the row by ``(tenant, run_id)`` (insert if absent), so a
replayed finish step (a durable retry, a crash between two commits) neither duplicates nor loses
it. The subject's episodes beyond the write policy's ``max_episodes`` are trimmed in the same
transaction, their ids journaled in the event's ``trimmed``. An embedder that fails leaves the
vector empty (the first recall embeds it): memory never fails a run's finish.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tether.events import MemoryWritten, RunStarted
from tether.memory.episodic import Episode, EpisodicStore, episode_from_events
from tether.memory.lifecycle import trim_episodes
from tether.store.schema import memory_episodes as episodes

if TYPE_CHECKING:
    from tether.agent.context import RunContext

log = logging.getLogger("tether.memory")


async def record_episode(ctx: RunContext) -> tuple[str, ...]:
    """Write the run's episode if its agent records them; returns the event ids written."""
    config = ctx.agent.memory
    if config is None or not config.records_episodes or ctx.memory is None:
        return ()
    key = ctx.key(ctx.state.steps, "memory_written")
    if await ctx.journaled(key) is not None:
        return (key.id,)
    events = await asyncio.to_thread(ctx.store.journal.read, ctx.run_id)
    started = next((e.payload for e in events if isinstance(e.payload, RunStarted)), None)
    tenant = started.tenant if started is not None else ctx.tenant
    subject = started.user if started is not None else None
    episode = episode_from_events(
        events,
        tenant=tenant,
        agent=ctx.agent.name,
        subject=subject,
        now=ctx.clock.now(),
        ttl_s=config.write.ttl_s,
    )
    if episode is None:
        return ()
    store = ctx.memory.episodes
    episode = await asyncio.to_thread(store.sealed, episode)  # PII under the subject's key
    row = store.row(episode, await asyncio.to_thread(_vector, store, episode))
    cap = config.write.max_episodes
    trimmed = await asyncio.to_thread(_beyond_cap, store.engine, episode, cap)

    def also(conn: sa.Connection, _stored: Any) -> None:
        if EpisodicStore.insert(conn, row):
            trim_episodes(conn, tenant, subject, cap)

    written = MemoryWritten(
        tier="episodic",
        item_ids=[episode.id],
        reason=f"run finished: {episode.outcome} ({episode.status})",
        trimmed=trimmed,
    )
    await ctx.record_many([(key, written)], also=also)
    return (key.id,)


def _vector(store: EpisodicStore, episode: Episode) -> Any:
    try:
        return store.vector(episode)
    except Exception as exc:  # memory must not fail the finish: the first recall embeds it
        log.warning("episode %s stored without a vector: %s", episode.id, exc)
        return None


def _beyond_cap(engine: sa.Engine, episode: Episode, cap: int) -> list[str]:
    """The ids the cap will trim once ``episode`` is in (the newest ``cap - 1`` stay)."""
    subject = episode.subject
    cond = episodes.c.subject.is_(None) if subject is None else episodes.c.subject == subject
    stmt = (
        sa.select(episodes.c.id)
        .where(episodes.c.tenant == episode.tenant, cond, episodes.c.id != episode.id)
        .order_by(episodes.c.created_at.desc(), episodes.c.id.desc())
        .offset(cap - 1)
    )
    with engine.connect() as conn:
        return list(conn.scalars(stmt))
