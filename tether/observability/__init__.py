"""Observability: OpenTelemetry traces built from the journal (DESIGN §2.9).

``tether.observability.tracing`` needs ``opentelemetry-sdk`` (and, to send spans over OTLP,
``opentelemetry-exporter-otlp-proto-http``); it is imported on its own so that the rest of
tether runs without them.
"""
