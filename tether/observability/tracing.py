"""OpenTelemetry traces from the journal: the journal is the trace source (DESIGN §2.1, §2.9).

A run's spans are built after the fact from its journal events, with the events' own times,
so a run traced from another process, after a crash or long after it finished looks the same::

    provider = tracer_provider_from_settings(settings.otlp_endpoint)
    if provider is not None:
        export_run(store.journal.read(run_id), provider)
        provider.shutdown()  # flushes the batch

No global tracer provider is ever set: the provider is passed in. Which spans and attributes
are emitted is decided by :mod:`tether.observability.spans` (pure).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from tether.errors import ConfigError
from tether.events import Event
from tether.observability.spans import SpanSpec, plan_run

try:
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "tracing needs the OpenTelemetry SDK: "
        "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http"
    ) from exc

__all__ = ["export_run", "tracer_provider_from_settings"]

_SCOPE = "tether"
_KINDS = {"internal": trace.SpanKind.INTERNAL, "client": trace.SpanKind.CLIENT}


def export_run(events: Sequence[Event], tracer_provider: trace.TracerProvider) -> None:
    """Emit one run's spans, built from its journal ``events``, through ``tracer_provider``.

    The run span is the root; model and tool spans are its children. Exporting is up to the
    provider's span processors (a batch processor sends them later: flush or shut it down).
    """
    plan = plan_run(events)
    tracer = tracer_provider.get_tracer(_SCOPE, _tether_version())
    root = _start(tracer, plan.root, None)
    parent = trace.set_span_in_context(root)  # a Context value: nothing global is attached
    for spec in plan.children:
        _end(_start(tracer, spec, parent), spec)
    _end(root, plan.root)


def tracer_provider_from_settings(
    otlp_endpoint: str | None, *, timeout_s: float = 10.0
) -> TracerProvider | None:
    """A provider that sends spans over OTLP/HTTP to ``otlp_endpoint`` (``TETHER_OTLP_ENDPOINT``)
    in batches, or None when no endpoint is configured (no telemetry leaves the machine).

    An endpoint without a path gets the standard ``/v1/traces``. The caller owns the provider:
    call ``shutdown()`` to flush it.
    """
    if not otlp_endpoint:
        return None
    endpoint = _traces_url(otlp_endpoint)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            f"TETHER_OTLP_ENDPOINT is {otlp_endpoint!r} but the OTLP exporter is not installed; "
            "pip install opentelemetry-exporter-otlp-proto-http, or unset TETHER_OTLP_ENDPOINT"
        ) from exc
    resource = Resource({"service.name": "tether", "service.version": _tether_version()})
    provider = TracerProvider(resource=resource, sampler=ALWAYS_ON)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=timeout_s)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _start(tracer: trace.Tracer, spec: SpanSpec, parent: Context | None) -> trace.Span:
    return tracer.start_span(
        spec.name,
        context=parent,
        kind=_KINDS[spec.kind],
        attributes=spec.attributes,
        start_time=spec.start_ns,
    )


def _end(span: trace.Span, spec: SpanSpec) -> None:
    if spec.error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, spec.error))
    span.end(end_time=spec.end_ns)


def _traces_url(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"TETHER_OTLP_ENDPOINT {endpoint!r} is not an http(s) URL; "
            "set it to e.g. http://127.0.0.1:4318/v1/traces, or unset it"
        )
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def _tether_version() -> str:
    try:
        return version("tether")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"
