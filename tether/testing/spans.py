"""Span capture for tests: an in-memory OpenTelemetry provider, no global state."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class SpanCapture:
    """Pass ``capture.provider`` as ``Runtime(tracer_provider=...)``; read ``capture.spans``."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @property
    def spans(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()

    def names(self) -> list[str]:
        return [s.name for s in self.spans]

    def close(self) -> None:
        self.provider.shutdown()
