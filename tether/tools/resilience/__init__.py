"""Per-tool resilience: thin wrappers around a ``ToolExecutor``, each adding one behaviour.

Each wrapper has the executor's interface (``prepare`` and ``execute``); the decisions inside
(token buckets, breaker states) reuse the pure objects of ``tether.models.resilience``.
``ResilientToolExecutor`` composes the usual stack.
"""

from tether.tools.resilience._base import (
    ResilientOutcome,
    RoutedCall,
    ToolRunner,
    ToolRunnerWrapper,
)
from tether.tools.resilience.breaker import FAILURE_CODES, BreakerTools
from tether.tools.resilience.bulkhead import BulkheadTools
from tether.tools.resilience.cache import CachedTools, ToolResultCache, cache_key, is_cacheable
from tether.tools.resilience.executor import ResilientToolExecutor
from tether.tools.resilience.fallback import FallbackTools
from tether.tools.resilience.ratelimit import RateLimitedTools

__all__ = [
    "FAILURE_CODES",
    "BreakerTools",
    "BulkheadTools",
    "CachedTools",
    "FallbackTools",
    "RateLimitedTools",
    "ResilientOutcome",
    "ResilientToolExecutor",
    "RoutedCall",
    "ToolResultCache",
    "ToolRunner",
    "ToolRunnerWrapper",
    "cache_key",
    "is_cacheable",
]
