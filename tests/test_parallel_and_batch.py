"""Several tool calls in one model step: reads run at the same time, writes one by one in
order, and calls of a tool with a batch form become one batch call. Overlap is shown with
barriers (a call that ran alone would time out waiting for its peer), not with wall-clock
thresholds."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tether import Agent, ToolContext, tool
from tether.agent.schedule import Unit, plan_calls
from tether.agent.state import RunState
from tether.testing import answer, calls
from tether.tools import ToolRegistry
from tether.types import RunStatus, ToolCall, ToolResultMessage

from .agent_helpers import make_runtime, scripted


class Log:
    """A thread-safe list of what happened, in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)


def make_agent(*tools: Any) -> Agent:
    return Agent(name="par", model="scripted", tools=list(tools), preselect_k=16)


def journal(rt: Any, run_id: str, kind: str) -> list[Any]:
    return [e for e in rt.store.journal.read(run_id) if e.kind == kind]


async def test_reads_of_one_step_run_at_the_same_time(tmp_path: Path) -> None:
    barrier = threading.Barrier(3, timeout=10)  # passes only if all three run at once
    log = Log()

    @tool
    def probe(n: int) -> str:
        """Wait for the other probes."""
        log.add(f"start {n}")
        barrier.wait()
        log.add(f"end {n}")
        return f"probe {n} met its peers"

    model = scripted(calls(*(("probe", {"n": n}) for n in range(3))), answer("ok"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(make_agent(probe), "probe")
    rt.close()
    assert result.status is RunStatus.SUCCEEDED
    assert not barrier.broken
    assert sorted(log.lines[:3]) == ["start 0", "start 1", "start 2"]  # all started first
    shown = [m for m in model.requests[-1].messages if isinstance(m, ToolResultMessage)]
    assert [m.content for m in shown] == [f'"probe {n} met its peers"' for n in range(3)]


async def test_results_join_the_conversation_in_call_order(tmp_path: Path) -> None:
    second_done = threading.Event()

    @tool
    def slow_first() -> str:
        """Finishes after fast_second."""
        assert second_done.wait(10)
        return "first"

    @tool
    def fast_second() -> str:
        """Finishes first."""
        second_done.set()
        return "second"

    model = scripted(calls(("slow_first", {}), ("fast_second", {})), answer("ok"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(make_agent(slow_first, fast_second), "go")
    finished = journal(rt, result.run_id, "tool_call_finished")
    replayed = RunState.replay(result.run_id, rt.store.journal.read(result.run_id))
    rt.close()
    # slow_first returned only after fast_second had: the journal may hold them either way
    assert sorted(e.payload.tool for e in finished) == ["fast_second", "slow_first"]
    assert all(e.payload.ok for e in finished)
    shown = [m for m in model.requests[-1].messages if isinstance(m, ToolResultMessage)]
    assert [m.name for m in shown] == ["slow_first", "fast_second"]  # call order
    # a run rebuilt from its journal sees the same conversation as the live one did
    rebuilt = [m for m in replayed.messages if isinstance(m, ToolResultMessage)]
    assert rebuilt == shown


async def test_writes_stay_ordered_and_reads_wait_for_them(tmp_path: Path) -> None:
    log = Log()
    readers = threading.Barrier(2, timeout=10)

    @tool
    def read_a(n: int) -> int:
        """Read A."""
        log.add(f"read {n}")
        if n < 2:
            readers.wait()  # reads 0 and 1 overlap
        return n

    @tool(side_effect="write", sink=False)  # ordering, not injection, is tested here
    def write_b(n: int) -> int:
        """Write B."""
        log.add(f"write {n} start")
        log.add(f"write {n} end")
        return n

    model = scripted(
        calls(
            ("read_a", {"n": 0}),
            ("read_a", {"n": 1}),
            ("write_b", {"n": 2}),
            ("write_b", {"n": 3}),
            ("read_a", {"n": 4}),
        ),
        answer("ok"),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(make_agent(read_a, write_b), "go")
    rt.close()
    assert result.status is RunStatus.SUCCEEDED
    assert sorted(log.lines[:2]) == ["read 0", "read 1"]
    assert log.lines[2:] == [
        "write 2 start",
        "write 2 end",
        "write 3 start",
        "write 3 end",
        "read 4",
    ]


async def test_a_write_declared_parallel_overlaps(tmp_path: Path) -> None:
    barrier = threading.Barrier(2, timeout=10)

    @tool(side_effect="write", parallel=True)
    def notify(n: int) -> str:
        """Send a notification (safe to send several at once)."""
        barrier.wait()
        return f"sent {n}"

    model = scripted(calls(("notify", {"n": 0}), ("notify", {"n": 1})), answer("ok"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(make_agent(notify), "go")
    rt.close()
    assert result.status is RunStatus.SUCCEEDED and not barrier.broken


def test_plan_waves_and_batches() -> None:
    def batch_fn(arguments: list[dict[str, Any]]) -> list[Any]:
        return arguments

    @tool(batch=batch_fn)
    def get(n: int) -> int:
        """Get."""
        return n

    @tool(side_effect="write", batch=batch_fn)
    def put(n: int) -> int:
        """Put."""
        return n

    @tool
    def other(n: int) -> int:
        """Other."""
        return n

    registry = ToolRegistry([get, put, other])
    names = ["get", "other", "put", "put", "get", "nope", "put"]
    plan = plan_calls(
        [ToolCall(id=str(i), name=n, arguments={"n": i}) for i, n in enumerate(names)], registry
    )
    assert plan == [
        (Unit((0, 4), True, batch=True), Unit((1,), True)),
        (Unit((2, 3), False, batch=True),),
        (Unit((5,), True),),  # an unknown tool: rejected without running, so parallel
        (Unit((6,), False),),  # put, but not next to the other puts
    ]
    assert plan_calls(
        [ToolCall(id="0", name="get", arguments={}), ToolCall(id="1", name="get", arguments={})],
        registry,
        done={0},
    ) == [(Unit((1,), True),)]


async def test_batch_form_makes_one_call_for_many(tmp_path: Path) -> None:
    batches: list[list[dict[str, Any]]] = []
    single_calls: list[str] = []

    def lookup_many(arguments: list[dict[str, Any]]) -> list[Any]:
        batches.append(arguments)
        out: list[Any] = []
        for a in arguments:
            if a["sku"] == "boom":
                out.append(RuntimeError("no such sku in the warehouse"))
            elif a["sku"] == "bad":
                out.append({"sku": a["sku"], "stock": "lots"})  # violates the output schema
            else:
                out.append({"sku": a["sku"], "stock": len(a["sku"])})
        return out

    schema = {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "stock": {"type": "integer"}},
        "required": ["sku", "stock"],
    }

    @tool(batch=lookup_many, output_schema=schema)
    def stock(sku: str) -> dict[str, Any]:
        """Stock level of one SKU."""
        single_calls.append(sku)
        return {"sku": sku, "stock": 0}

    skus: list[Any] = ["a1", "bb22", "boom", "bad"]
    model = scripted(
        calls(*[("stock", {"sku": s}) for s in skus], ("stock", {"sku": 7})),  # last: invalid
        answer("ok"),
    )
    rt = make_runtime(tmp_path, model)
    result = await rt.run(make_agent(stock), "check stock")
    started = journal(rt, result.run_id, "tool_call_started")
    finished = sorted(journal(rt, result.run_id, "tool_call_finished"), key=lambda e: e.key.index)
    rt.close()
    assert result.status is RunStatus.SUCCEEDED
    assert batches == [[{"sku": s} for s in skus]]  # one batch, the invalid call left out
    assert single_calls == []
    assert len({e.payload.idempotency_key for e in started}) == 5
    outcome = [
        (f.payload.ok, f.payload.result, (f.payload.error or {}).get("code")) for f in finished
    ]
    assert outcome == [
        (True, {"sku": "a1", "stock": 2}, None),
        (True, {"sku": "bb22", "stock": 4}, None),
        (False, None, "tool_error"),
        (False, None, "invalid_output"),
        (False, None, "invalid_arguments"),
    ]
    assert "no such sku" in finished[2].payload.error["message"]
    assert result.tool_calls == 5


async def test_batch_of_writes_gets_each_calls_context(tmp_path: Path) -> None:
    seen: list[tuple[list[int], list[str]]] = []

    def send_many(arguments: list[dict[str, Any]], contexts: list[ToolContext]) -> list[str]:
        seen.append(([a["n"] for a in arguments], [c.idempotency_key for c in contexts]))
        return [f"sent {a['n']}" for a in arguments]

    @tool(side_effect="write", idempotent=True, batch=send_many)
    def send(n: int) -> str:
        """Send one message."""
        raise AssertionError("the batch form is used")

    model = scripted(calls(*(("send", {"n": n}) for n in range(3))), answer("ok"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(make_agent(send), "send three")
    started = journal(rt, result.run_id, "tool_call_started")
    rt.close()
    assert result.status is RunStatus.SUCCEEDED
    [(numbers, keys)] = seen
    assert numbers == [0, 1, 2]
    assert keys == [e.payload.idempotency_key for e in started]
    assert len(set(keys)) == 3


async def test_a_failing_batch_fails_each_call_with_a_structured_error(tmp_path: Path) -> None:
    def broken(arguments: list[dict[str, Any]]) -> list[Any]:
        return arguments[:1]  # one result for two calls

    @tool(batch=broken)
    def get(n: int) -> int:
        """Get."""
        return n

    model = scripted(calls(("get", {"n": 0}), ("get", {"n": 1})), answer("ok"))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(make_agent(get), "go")
    finished = journal(rt, result.run_id, "tool_call_finished")
    rt.close()
    assert [e.payload.ok for e in finished] == [False, False]
    assert all("1 results for 2 calls" in e.payload.error["message"] for e in finished)


def test_a_rebuilt_run_skips_exactly_the_calls_already_journaled() -> None:
    from tether.agent.loop import Act, next_node
    from tether.events import Event, EventKey, ModelResponded, RunStarted, ToolCallFinished

    def event(kind: str, payload: Any, index: int = 0, step: int = 0) -> Event:
        key = EventKey(run_id="r", segment=0, step=step, kind=kind, index=index)
        return Event(key=key, payload=payload)

    started = RunStarted(
        goal="g", agent="a", agent_version="1", model="m", tools=[], limits={}, tether_version="0"
    )
    three = [{"id": f"c{i}", "name": "probe", "arguments": {"n": i}} for i in range(3)]
    events = [
        event("run_started", started),
        event("model_response", ModelResponded(model="m", tool_calls=three)),
        # call 2 finished, then the process died while 0 and 1 still ran
        event("tool_call_finished", ToolCallFinished(call_id="c2", tool="probe", ok=True), 2),
    ]
    state = RunState.replay("r", events)
    node = next_node(state)
    assert isinstance(node, Act) and node.done == frozenset({2})
    assert not any(isinstance(m, ToolResultMessage) for m in state.messages)  # held back
    for i in (1, 0):
        state.apply(
            event("tool_call_finished", ToolCallFinished(call_id=f"c{i}", tool="probe", ok=True), i)
        )
    results = [m.tool_call_id for m in state.messages if isinstance(m, ToolResultMessage)]
    assert results == ["c0", "c1", "c2"]  # call order, whatever the finish order
    assert state.tool_calls == 3
