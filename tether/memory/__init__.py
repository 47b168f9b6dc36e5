"""Memory: semantic memory (chunks, embeddings, hybrid retrieval) in this version.

``SemanticStore`` keeps chunks with provenance, tenant, scope and trust level; ``LocalEmbedder``
embeds with the all-MiniLM-L6-v2 wheel in numpy, ``OpenAIEmbedder`` with any OpenAI-compatible
endpoint; ``ingest_paths`` ingests files and folders; ``search_memory_tool`` gives an agent a read
tool over one tenant's memory.
"""

from __future__ import annotations

from tether.memory.ann import AnnSettings
from tether.memory.chunk import Chunk, chunk_text
from tether.memory.embed import (
    LOCAL_MODEL,
    Embedder,
    LocalEmbedder,
    OpenAIEmbedder,
    embed_async,
    make_embedder,
)
from tether.memory.ingest import IngestReport, ingest_paths
from tether.memory.search import Filters, Mode, Trust, fts_query, rrf
from tether.memory.store import Hit, MemoryItem, SemanticStore
from tether.memory.tool import search_memory_tool

__all__ = [
    "LOCAL_MODEL",
    "AnnSettings",
    "Chunk",
    "Embedder",
    "Filters",
    "Hit",
    "IngestReport",
    "LocalEmbedder",
    "MemoryItem",
    "Mode",
    "OpenAIEmbedder",
    "SemanticStore",
    "Trust",
    "chunk_text",
    "embed_async",
    "fts_query",
    "ingest_paths",
    "make_embedder",
    "rrf",
    "search_memory_tool",
]
