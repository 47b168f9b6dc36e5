"""A clock tests can move by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(kw_only=True)
class FakeClock:
    """Implements ``tether.clock.Clock``: ``now()`` (aware UTC) and ``monotonic()`` seconds."""

    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    _offset: float = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds
