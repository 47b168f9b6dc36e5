"""Spans from the journal, checked against the OpenTelemetry GenAI semantic conventions' YAML.

The conventions live beside the repository (``<repo>/../shared/data/otel-semconv``): the test
loads the span definitions, resolves ``extends``/``ref`` against the registry and checks each
emitted span's required attributes, span kind and attribute types.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.agent_helpers import agent, make_runtime, scripted
from tether import tool
from tether.errors import ConfigError, ModelError, UsageError
from tether.events import Event, ModelResponded, RunFinished, ToolCallFinished
from tether.observability.spans import plan_run, provider_name
from tether.observability.tracing import export_run, tracer_provider_from_settings
from tether.testing import ScriptStep, answer, call, calls
from tether.types import RunStatus

SEMCONV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "otel-semconv"
DEFINITIONS = {  # gen_ai.operation.name -> the span definition tether's span follows
    "invoke_agent": "span.gen_ai.invoke_agent.internal",
    "chat": "span.gen_ai.inference.client",
    "execute_tool": "span.gen_ai.execute_tool.internal",
}
# conditionally required attributes whose condition always holds for tether's spans
APPLIES = {
    "invoke_agent": {
        "gen_ai.request.model",
        "gen_ai.conversation.id",
        "gen_ai.agent.name",
        "gen_ai.agent.version",
    },
    "chat": {"gen_ai.request.model", "gen_ai.conversation.id"},
    "execute_tool": set(),
}
NAME_FROM = {
    "invoke_agent": "gen_ai.agent.name",
    "chat": "gen_ai.request.model",
    "execute_tool": "gen_ai.tool.name",
}
GOAL_MARK = "goal-marker-5e1d"


# --- the conventions -------------------------------------------------------------------------


@cache
def semconv_groups() -> dict[str, dict[str, Any]]:
    model = SEMCONV / "model"
    if not (model / "gen-ai" / "spans.yaml").is_file():
        pytest.fail(
            f"the OpenTelemetry semantic conventions YAML is missing at {str(model)!r}; "
            "check out shared/ beside the repository (shared/data/otel-semconv)"
        )
    groups: dict[str, dict[str, Any]] = {}
    for path in sorted(model.rglob("*.yaml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            groups[group["id"]] = group
    return groups


@cache
def registry() -> dict[str, dict[str, Any]]:
    return {
        a["id"]: a
        for g in semconv_groups().values()
        if g.get("type") == "attribute_group" and g["id"].startswith("registry.")
        for a in g.get("attributes", [])
        if "id" in a
    }


def resolved(group_id: str) -> dict[str, dict[str, Any]]:
    """A group's attributes with its ``extends`` chain applied (later overrides win)."""
    group = semconv_groups()[group_id]
    attrs = resolved(group["extends"]) if "extends" in group else {}
    for a in group.get("attributes", []):
        key = a.get("ref") or a["id"]
        attrs[key] = {**registry().get(key, {}), **attrs.get(key, {}), **a}
    return attrs


def level(attr: dict[str, Any]) -> str:
    req = attr.get("requirement_level", "recommended")
    return req if isinstance(req, str) else next(iter(req))


def with_level(definition: str, wanted: str) -> set[str]:
    return {k for k, a in resolved(definition).items() if level(a) == wanted}


def type_ok(value: Any, kind: Any) -> bool:
    if isinstance(kind, dict):  # an enum: open, so any string (members are examples)
        return isinstance(value, str)
    checks = {
        "string": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, float),
        "boolean": lambda v: isinstance(v, bool),
        "string[]": lambda v: isinstance(v, tuple) and all(isinstance(x, str) for x in v),
    }
    return bool(checks[kind](value))


def assert_follows_conventions(span: ReadableSpan) -> None:
    attrs = dict(span.attributes or {})
    op = attrs["gen_ai.operation.name"]
    definition_id = DEFINITIONS[str(op)]
    definition = semconv_groups()[definition_id]
    where = f"span {span.name!r} ({definition_id})"
    missing = with_level(definition_id, "required") - attrs.keys()
    assert not missing, f"{where} lacks required attributes {sorted(missing)}"
    assert span.kind is SpanKind[definition["span_kind"].upper()], where
    conditional = with_level(definition_id, "conditionally_required")
    assert APPLIES[str(op)] <= conditional, f"{where}: the YAML changed its conditions"
    assert not APPLIES[str(op)] - attrs.keys(), f"{where} lacks {APPLIES[str(op)] - attrs.keys()}"
    opt_in = with_level(definition_id, "opt_in") & attrs.keys()
    assert not opt_in, f"{where} carries opt-in content attributes {sorted(opt_in)}"
    failed = span.status.status_code is StatusCode.ERROR
    assert failed == ("error.type" in attrs), f"{where}: error.type iff status ERROR"
    if failed:
        assert "error.type" in conditional
    for key, value in attrs.items():
        if key.startswith("gen_ai."):
            spec = registry().get(key)
            assert spec is not None, f"{where}: {key!r} is not in the GenAI registry"
            assert "deprecated" not in spec, f"{where}: {key!r} is deprecated"
            assert type_ok(value, spec["type"]), f"{where}: {key}={value!r} is not {spec['type']}"
    assert span.name == f"{op} {attrs[NAME_FROM[str(op)]]}"


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def capture() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def by_op(spans: tuple[ReadableSpan, ...], op: str) -> list[ReadableSpan]:
    found = [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == op]
    return sorted(found, key=lambda s: s.start_time or 0)


def check_tree(spans: tuple[ReadableSpan, ...]) -> ReadableSpan:
    """One root (the run); every other span is its direct child, within its time."""
    for span in spans:
        assert_follows_conventions(span)
    (root,) = by_op(spans, "invoke_agent")
    assert root.parent is None
    assert root.start_time is not None and root.end_time is not None
    for span in spans:
        if span is root:
            continue
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert span.context.trace_id == root.context.trace_id
        assert span.start_time is not None and span.end_time is not None
        assert root.start_time <= span.start_time <= span.end_time <= root.end_time
    return root


def payloads(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e.payload for e in events if isinstance(e.payload, kind)]


def texts(spans: tuple[ReadableSpan, ...]) -> str:
    parts = [s.name + " " + (s.status.description or "") for s in spans]
    parts += [repr(v) for s in spans for v in (s.attributes or {}).values()]
    return "\n".join(parts)


# --- runs on the scripted model --------------------------------------------------------------


async def test_tool_call_and_answer_become_a_conventional_span_tree(
    tmp_path: Path, capture: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = capture
    model = scripted(call("calculator", expression="17*23+4"), answer("It is 395."))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), f"What is 17*23+4? {GOAL_MARK}")
    assert result.status is RunStatus.SUCCEEDED
    events = rt.store.journal.read(result.run_id)
    rt.close()

    export_run(events, provider)
    spans = exporter.get_finished_spans()
    assert [s.name for s in sorted(spans, key=lambda s: s.start_time or 0)] == [
        "invoke_agent test-agent",
        "chat scripted",
        "execute_tool calculator",
        "chat scripted",
    ]
    root = check_tree(spans)
    attrs = dict(root.attributes or {})
    assert attrs["gen_ai.conversation.id"] == attrs["tether.run.id"] == result.run_id
    assert attrs["tether.run.status"] == "succeeded"
    assert root.status.status_code is StatusCode.UNSET
    # token counts are the journal's, per call and in total
    responses = payloads(events, ModelResponded)
    chats = by_op(spans, "chat")
    assert [
        (
            (c.attributes or {})["gen_ai.usage.input_tokens"],
            (c.attributes or {})["gen_ai.usage.output_tokens"],
        )
        for c in chats
    ] == [(r.input_tokens, r.output_tokens) for r in responses]
    (finished,) = payloads(events, RunFinished)
    assert finished.input_tokens == sum(r.input_tokens for r in responses) > 0
    assert attrs["gen_ai.usage.input_tokens"] == finished.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == finished.output_tokens
    assert (chats[0].attributes or {})["gen_ai.response.finish_reasons"] == ("tool_calls",)
    (tool_span,) = by_op(spans, "execute_tool")
    (tool_done,) = payloads(events, ToolCallFinished)
    assert (tool_span.attributes or {})["gen_ai.tool.call.id"] == tool_done.call_id
    assert (tool_span.attributes or {})["gen_ai.tool.type"] == "function"
    # metadata only: no goal, argument, result or answer text on any span
    dump = texts(spans)
    for content in (GOAL_MARK, "17*23+4", "395", "Test agent."):
        assert content not in dump
    # no global provider was installed
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


async def test_failed_and_rejected_tool_calls_are_error_spans(
    tmp_path: Path, capture: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = capture

    @tool
    def double(n: int) -> int:
        """Double a number.

        Args:
            n: the number
        """
        return 2 * n

    @tool
    def flaky() -> str:
        """Fail."""
        raise RuntimeError(f"backend down {GOAL_MARK}")

    model = scripted(
        calls(("double", {"n": "seven"}), ("flaky", {}), ("dubble", {"n": 7})),
        answer("gave up"),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(double, flaky), "double seven")
    assert result.status is RunStatus.SUCCEEDED
    events = rt.store.journal.read(result.run_id)
    rt.close()

    export_run(events, provider)
    spans = exporter.get_finished_spans()
    root = check_tree(spans)
    assert root.status.status_code is StatusCode.UNSET  # the run itself succeeded
    tool_spans = sorted(
        by_op(spans, "execute_tool"), key=lambda s: str((s.attributes or {})["gen_ai.tool.call.id"])
    )
    finished = sorted(payloads(events, ToolCallFinished), key=lambda p: p.call_id)
    assert [(s.attributes or {})["gen_ai.tool.name"] for s in tool_spans] == [
        "double",
        "flaky",
        "dubble",
    ]
    for span, outcome in zip(tool_spans, finished, strict=True):
        assert not outcome.ok
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == outcome.error["code"]
        assert span.status.description == outcome.error["code"]
    assert [(s.attributes or {})["error.type"] for s in tool_spans] == [
        "invalid_arguments",
        "tool_error",
        "unknown_tool",
    ]
    assert (tool_spans[0].attributes or {})["tether.tool.validated"] is False
    assert GOAL_MARK not in texts(spans)


async def test_model_failure_marks_the_chat_and_run_spans(
    tmp_path: Path, capture: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = capture
    model = scripted(ScriptStep(raises=ModelError(f"provider unavailable {GOAL_MARK}")))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "x")
    assert result.status is RunStatus.FAILED
    events = rt.store.journal.read(result.run_id)
    rt.close()

    export_run(events, provider)
    spans = exporter.get_finished_spans()
    root = check_tree(spans)
    (chat,) = by_op(spans, "chat")
    assert chat.status.status_code is StatusCode.ERROR
    assert (chat.attributes or {})["error.type"] == "ModelError"
    assert "gen_ai.response.model" not in (chat.attributes or {})
    assert root.status.status_code is StatusCode.ERROR
    assert (root.attributes or {})["error.type"] == "failed"
    assert GOAL_MARK not in texts(spans)


async def test_an_interrupted_run_still_exports(
    tmp_path: Path, capture: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = capture
    model = scripted(call("calculator", expression="1+1"), answer("2"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "add")
    events = rt.store.journal.read(result.run_id)
    rt.close()
    # as if the worker died during the tool call: its outcome and what follows never journaled
    cut = next(i for i, e in enumerate(events) if e.kind == "tool_call_finished")
    export_run(events[:cut], provider)
    spans = exporter.get_finished_spans()
    root = check_tree(spans)
    assert "tether.run.status" not in (root.attributes or {})
    (tool_span,) = by_op(spans, "execute_tool")
    assert (tool_span.attributes or {})["tether.incomplete"] is True
    assert tool_span.status.status_code is StatusCode.UNSET


# --- the pure parts --------------------------------------------------------------------------


async def test_plan_rejects_events_it_cannot_place(tmp_path: Path) -> None:
    model = scripted(answer("ok"))
    rt = make_runtime(tmp_path, model)
    first = await rt.run(agent(), "one")
    events = rt.store.journal.read(first.run_id)
    rt.close()
    with pytest.raises(UsageError, match="got none"):
        plan_run([])
    other = replace(events[0], key=replace(events[0].key, run_id="run_other"))
    with pytest.raises(UsageError, match="one run"):
        plan_run([*events, other])
    with pytest.raises(UsageError, match="has no ts"):
        plan_run([replace(events[0], ts=None)])
    # naive timestamps (a backend that drops the zone) are read as UTC
    naive = [replace(e, ts=e.ts.replace(tzinfo=None) if e.ts else None) for e in events]
    assert plan_run(naive).root.start_ns == plan_run(events).root.start_ns


def test_provider_names_use_the_registry_values() -> None:
    assert provider_name("openai:gpt-4o-mini") == "openai"
    assert provider_name("anthropic:claude-sonnet-4") == "anthropic"
    assert provider_name("local:smollm2") == "llama.cpp"
    assert provider_name("scripted") == "scripted"
    known = {m["value"] for m in registry()["gen_ai.provider.name"]["type"]["members"]}
    assert {"openai", "anthropic"} <= known


# --- the OTLP provider -----------------------------------------------------------------------


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A real OTLP/HTTP endpoint on 127.0.0.1 that records what it is sent."""
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
    thread.join()


def test_no_endpoint_means_no_provider() -> None:
    assert tracer_provider_from_settings(None) is None
    assert tracer_provider_from_settings("") is None
    with pytest.raises(ConfigError, match="TETHER_OTLP_ENDPOINT"):
        tracer_provider_from_settings("127.0.0.1:4318")


def test_provider_with_no_spans_sends_nothing(
    collector: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    url, received = collector
    provider = tracer_provider_from_settings(url, timeout_s=2)
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "tether"
    provider.shutdown()
    assert received == []
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


async def test_run_spans_reach_an_otlp_endpoint(
    tmp_path: Path, collector: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    url, received = collector
    model = scripted(call("calculator", expression="2+2"), answer("4"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent(), "add")
    events = rt.store.journal.read(result.run_id)
    rt.close()
    provider = tracer_provider_from_settings(url, timeout_s=2)
    assert provider is not None
    export_run(events, provider)
    provider.shutdown()  # flushes the batch
    assert received, "the collector got nothing"
    paths = {path for path, _, _ in received}
    assert paths == {"/v1/traces"}  # the standard path was added to the bare endpoint
    names = []
    for _, content_type, body in received:
        assert content_type == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(body)
        names += [
            s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
        ]
    assert sorted(names) == sorted(
        ["invoke_agent test-agent", "chat scripted", "execute_tool calculator", "chat scripted"]
    )


def test_event_times_are_kept_to_the_microsecond() -> None:
    ts = datetime.fromisoformat("2026-05-01T12:00:00.123456+00:00")
    from tether.events import EventKey, RunStarted

    event = Event(
        key=EventKey(run_id="run_x", segment=0, step=0, kind="run_started"),
        payload=RunStarted(
            goal="g",
            agent="a",
            agent_version="1",
            model="local:smollm2",
            tools=[],
            limits={},
            tether_version="0",
        ),
        ts=ts,
    )
    plan = plan_run([event])
    assert plan.root.start_ns == plan.root.end_ns == 1_777_636_800_123_456_000
    assert plan.root.attributes["gen_ai.provider.name"] == "llama.cpp"
    assert plan.children == []


async def test_runtime_exports_each_run_to_its_tracer_provider(tmp_path: Path) -> None:
    from tests.agent_helpers import agent as make_agent
    from tests.agent_helpers import make_runtime, scripted
    from tether.testing import SpanCapture, answer, call

    capture = SpanCapture()
    rt = make_runtime(tmp_path, scripted(call("calculator", expression="2+2"), answer("4")))
    rt.tracer_provider = capture.provider
    await rt.run(make_agent(), "add")
    rt.close()
    assert capture.names() == [
        "chat scripted",
        "execute_tool calculator",
        "chat scripted",
        "invoke_agent test-agent",
    ]
    capture.close()
