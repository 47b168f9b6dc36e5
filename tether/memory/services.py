"""The memory a runtime's runs use: episodic and profile stores over the runtime's engine,
with one embedder made on first use (runs of agents without ``memory:`` never load it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tether.clock import Clock

if TYPE_CHECKING:
    from tether.memory.embed import Embedder
    from tether.memory.episodic import EpisodicStore
    from tether.memory.profile import ProfileStore
    from tether.privacy.seal import Sealer
    from tether.settings import Settings


def embedder_from_settings(settings: Settings) -> Embedder:
    """The embedder ``TETHER_EMBED_MODEL`` names (the local model unless configured)."""
    from tether.memory.embed import make_embedder

    key = settings.embed_api_key or settings.openai_api_key
    return make_embedder(
        settings.embed_model,
        base_url=settings.embed_base_url,
        api_key=key.get_secret_value() if key else None,
    )


@dataclass
class MemoryServices:
    engine: sa.Engine
    clock: Clock
    make_embedder: Callable[[], Embedder]
    make_sealer: Callable[[], Sealer] | None = None  # PII of both tiers sealed per subject
    _episodes: EpisodicStore | None = None
    _profile: ProfileStore | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def episodes(self) -> EpisodicStore:
        with self._lock:
            if self._episodes is None:
                from tether.memory.episodic import EpisodicStore  # numpy: only when used

                self._episodes = EpisodicStore(
                    self.engine, self.make_embedder(), self.clock, sealer=self._sealer()
                )
            return self._episodes

    def close(self) -> None:
        """Close the embedder's connections (an HTTP embedder), if one was made."""
        embedder = self._episodes.embedder if self._episodes is not None else None
        close = getattr(embedder, "close", None)
        if close is not None:
            close()

    @property
    def profile(self) -> ProfileStore:
        with self._lock:
            if self._profile is None:
                from tether.memory.profile import ProfileStore

                self._profile = ProfileStore(self.engine, self.clock, sealer=self._sealer())
            return self._profile

    def _sealer(self) -> Sealer | None:
        return self.make_sealer() if self.make_sealer is not None else None
