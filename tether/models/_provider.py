"""Small helpers shared by the hosted-provider adapters (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a provider asked us to wait: ``retry-after-ms`` or ``retry-after`` (seconds)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            continue
    return None


def one_line(text: str, limit: int = 500) -> str:
    """Whitespace collapsed, cut to ``limit`` characters: error text for one-line messages."""
    return " ".join(text.split())[:limit]
