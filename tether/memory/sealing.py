"""The episodic and profile tiers' PII sealed with the subject's data key (as semantic chunks).

An episode's task, notes and action arguments, and a profile entry's value, are sealed with
:class:`tether.privacy.seal.Sealer` before they are stored: each detected PII or secret span
becomes a token only the subject's key opens (the tenant's own key for an episode without a
subject). Readers open them; after ``tether memory forget SUBJECT`` the key is gone and a copy
of the row anywhere (a backup, a stale page) stays unreadable. Episodes built from a subject
run's journal already hold tokens sealed with that key: they are kept as they are. Vectors are
made from :func:`index_text` (each token as ``[kind]``), so no PII reaches an embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from tether.privacy.seal import Sealer, index_text

if TYPE_CHECKING:
    from tether.memory.episodic import Episode


def seal_episode(sealer: Sealer | None, episode: Episode) -> Episode:
    """``episode`` with its PII sealed under its subject's key (itself when there is none)."""
    if sealer is None:
        return episode
    parts = [episode.task, episode.notes, [a.arguments for a in episode.actions]]
    sealed = sealer.seal_value(episode.tenant, episode.subject, parts)
    if sealed is parts:
        return episode
    task, notes, arguments = sealed
    pairs = zip(episode.actions, arguments, strict=True)
    actions = tuple(replace(a, arguments=v) for a, v in pairs)
    return replace(episode, task=task, notes=notes, actions=actions)


def open_episodes(sealer: Sealer | None, tenant: str, found: Sequence[Episode]) -> list[Episode]:
    """Stored episodes with the tokens in them opened (those of forgotten keys stay closed)."""
    if sealer is None or not found:
        return list(found)
    parts = [[e.task, e.notes, [a.arguments for a in e.actions]] for e in found]
    opened = sealer.open_values(tenant, parts)
    out = []
    for episode, (task, notes, arguments) in zip(found, opened, strict=True):
        actions = tuple(
            replace(a, arguments=v) for a, v in zip(episode.actions, arguments, strict=True)
        )
        out.append(replace(episode, task=task, notes=notes, actions=actions))
    return out


def embed_text(episode: Episode) -> str:
    """What an episode's vector is made from: its text with each token as ``[kind]``."""
    return index_text(episode.embed_text)
