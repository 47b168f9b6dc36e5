"""Memory: semantic memory (chunks, embeddings, hybrid retrieval) in this version.

``SemanticStore`` keeps chunks with provenance, tenant, scope and trust level; ``LocalEmbedder``
embeds with the all-MiniLM-L6-v2 wheel in numpy, ``OpenAIEmbedder`` with any OpenAI-compatible
endpoint; ``ingest_paths`` ingests files and folders; ``search_memory_tool`` gives an agent a read
tool over one tenant's memory. ``EpisodicStore`` keeps an episode per finished run and
``ProfileStore`` a subject's preferences by scope; ``MemoryConfig`` is an agent's memory policy.

Names load on first use (PEP 562), so importing ``tether.memory.config`` (the agent spec does)
costs no numpy import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.memory.ann import AnnSettings
    from tether.memory.chunk import Chunk, chunk_text
    from tether.memory.config import MemoryConfig
    from tether.memory.embed import (
        LOCAL_MODEL,
        Embedder,
        LocalEmbedder,
        OpenAIEmbedder,
        embed_async,
        make_embedder,
    )
    from tether.memory.episodic import Episode, EpisodicStore
    from tether.memory.ingest import IngestReport, ingest_paths
    from tether.memory.lifecycle import compact, expire
    from tether.memory.profile import ProfileEntry, ProfileStore
    from tether.memory.search import Filters, Mode, Trust, fts_query, rrf
    from tether.memory.store import Hit, MemoryItem, SemanticStore
    from tether.memory.tool import search_memory_tool

_MODULES = {
    "AnnSettings": "ann",
    "LOCAL_MODEL": "embed",
    "Chunk": "chunk",
    "Embedder": "embed",
    "Episode": "episodic",
    "EpisodicStore": "episodic",
    "Filters": "search",
    "Hit": "store",
    "IngestReport": "ingest",
    "LocalEmbedder": "embed",
    "MemoryConfig": "config",
    "MemoryItem": "store",
    "Mode": "search",
    "OpenAIEmbedder": "embed",
    "ProfileEntry": "profile",
    "ProfileStore": "profile",
    "SemanticStore": "store",
    "Trust": "search",
    "chunk_text": "chunk",
    "compact": "lifecycle",
    "embed_async": "embed",
    "expire": "lifecycle",
    "fts_query": "search",
    "ingest_paths": "ingest",
    "make_embedder": "embed",
    "rrf": "search",
    "search_memory_tool": "tool",
}

__all__ = [
    "LOCAL_MODEL",
    "AnnSettings",
    "Chunk",
    "Embedder",
    "Episode",
    "EpisodicStore",
    "Filters",
    "Hit",
    "IngestReport",
    "LocalEmbedder",
    "MemoryConfig",
    "MemoryItem",
    "Mode",
    "OpenAIEmbedder",
    "ProfileEntry",
    "ProfileStore",
    "SemanticStore",
    "Trust",
    "chunk_text",
    "compact",
    "embed_async",
    "expire",
    "fts_query",
    "ingest_paths",
    "make_embedder",
    "rrf",
    "search_memory_tool",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'tether.memory' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tether.memory.{module}"), name)
