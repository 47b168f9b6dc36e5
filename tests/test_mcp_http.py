"""MCP over Streamable HTTP on 127.0.0.1, against real servers in subprocesses: tether's own
``tether mcp serve --transport http`` and a server built with the SDK's ``MCPServer``."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether import Agent, load_agent
from tether.errors import ConfigError, UsageError
from tether.testing import answer, call, calls
from tether.tools.mcp_client import McpServer, mcp_tools

from .agent_helpers import make_runtime, scripted

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"server did not listen on {port}: {log.read_text()}")


@contextmanager
def http_server(args: list[str], port: int, tmp_path: Path) -> Iterator[str]:
    log = tmp_path / f"server-{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=err, stderr=err)
    try:
        wait_listening(port, proc, log)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode is not None


@pytest.fixture
def tether_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "tether.cli", "mcp", "serve", "--transport", "http"]
    with http_server([*cmd, "--port", str(port)], port, tmp_path) as url:
        yield url


@pytest.fixture
def notes_state(tmp_path: Path) -> Path:
    return tmp_path / "notes.json"


@pytest.fixture
def notes_url(tmp_path: Path, notes_state: Path) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "tests.mcp_http_server", str(port), str(notes_state)]
    with http_server(cmd, port, tmp_path) as url:
        yield url


def finished(rt: Any, run_id: str) -> list[Any]:
    # in call order: a step's parallel reads are journaled as they finish
    events = [e for e in rt.store.journal.read(run_id) if e.kind == "tool_call_finished"]
    return [e.payload for e in sorted(events, key=lambda e: (e.key.step, e.key.index))]


def started(rt: Any, run_id: str) -> list[Any]:
    # in call order: a step's parallel reads are journaled as they finish
    events = [e for e in rt.store.journal.read(run_id) if e.kind == "tool_call_started"]
    return [e.payload for e in sorted(events, key=lambda e: (e.key.step, e.key.index))]


async def test_agent_uses_tether_served_over_http(tmp_path: Path, tether_url: str) -> None:
    toolset = await mcp_tools(tether_url, prefix="remote_")
    async with toolset:
        calc = toolset["remote_calculator"]
        assert calc.contract.side_effect == "read" and calc.contract.idempotent
        model = scripted(call("remote_calculator", expression="6*7"), answer("42"))
        rt = make_runtime(tmp_path, model)
        agent = Agent(name="calc", model="scripted", tools=[calc])
        result = await rt.run(agent, "6*7?")
        rt.close()
    model.assert_consumed()
    assert result.output == "42"
    [done] = finished(rt, result.run_id)
    assert done.ok, done
    assert done.result == {"expression": "6*7", "result": 42}


async def test_agent_uses_sdk_server_over_http_with_tiers(
    tmp_path: Path, notes_url: str, notes_state: Path
) -> None:
    config = McpServer.parse({"url": notes_url, "timeout_ms": 5000}, source="agent.yaml")
    toolset = await mcp_tools(config)
    async with toolset:
        tiers = {t.name: t.contract.side_effect for t in toolset.tools}
        assert tiers == {"get_note": "read", "put_note": "write", "wipe_notes": "high_risk"}
        model = scripted(
            call("put_note", key="a", text="hello"),
            calls(("get_note", {"key": "a"}), ("get_note", {"key": "b"})),
            answer("done"),
        )
        rt = make_runtime(tmp_path, model)
        agent = Agent(name="notes", model="scripted", tools=list(toolset.tools), preselect_k=8)
        result = await rt.run(agent, "store and read")
        rt.close()
    model.assert_consumed()
    assert json.loads(notes_state.read_bytes()) == {"a": "hello"}  # noqa: ASYNC240 - one write, once
    intents = started(rt, result.run_id)
    assert [(i.tool, i.side_effect) for i in intents] == [
        ("put_note", "write"),
        ("get_note", "read"),
        ("get_note", "read"),
    ]
    results = [f.result for f in finished(rt, result.run_id)]
    assert results == [{"result": "stored a"}, {"result": "hello"}, {"result": ""}]


async def test_unreachable_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="did not start"):
        await mcp_tools(f"http://127.0.0.1:{free_port()}/mcp")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "exactly one of 'command'"),
        ({"url": "http://x/mcp", "command": ["x"]}, "exactly one of 'command'"),
        ({"url": "ftp://x/mcp"}, "not an http"),
        ({"command": ["srv"], "headers": {"a": "b"}}, "apply to a 'url' server only"),
        ({"url": "http://127.0.0.1/mcp", "side_effects": {"t": "sometimes"}}, "side_effects"),
    ],
)
def test_server_config_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        McpServer.parse(data, source="agents/a.yaml")
    assert "agents/a.yaml" in str(info.value)


def test_http_serve_refuses_a_public_address() -> None:
    from tether.mcp_server import check_loopback

    with pytest.raises(UsageError, match="loopback only"):
        check_loopback("0.0.0.0")
    cmd = [sys.executable, "-m", "tether.cli", "mcp", "serve", "--transport", "http"]
    done = subprocess.run(
        [*cmd, "--host", "0.0.0.0"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 64
    assert "loopback only" in done.stderr


async def test_agent_file_names_mcp_servers_by_url_and_by_command(
    tmp_path: Path, tether_url: str
) -> None:
    token = "tok-4a7f19c2e8d05b36"
    time_server = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]
    path = tmp_path / "mixed.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "mixed",
                "model": "scripted",
                "preselect_k": 8,
                "mcp": [
                    {"url": tether_url, "prefix": "remote_", "header_secrets": {"X-Key": "mcp"}},
                    {"command": time_server, "read_tools": ["convert_time"]},
                ],
            }
        )
    )
    agent = load_agent(path)
    assert [s.url is not None for s in agent.mcp] == [True, False]
    model = scripted(
        calls(
            ("remote_calculator", {"expression": "2+3"}),
            ("get_current_time", {"timezone": "UTC"}),
        ),
        answer("ok"),
    )
    rt = make_runtime(tmp_path, model, secrets={"mcp": token})
    result = await rt.run(agent, "add and tell the time")
    events = rt.store.journal.read(result.run_id)
    rt.close()
    model.assert_consumed()
    assert result.status.value == "succeeded"
    [run_started] = [e.payload for e in events if e.kind == "run_started"]
    assert {"remote_calculator", "get_current_time", "convert_time"} <= set(run_started.tools)
    finished_events = sorted(
        (e for e in events if e.kind == "tool_call_finished"), key=lambda e: e.key.index
    )
    done = [e.payload for e in finished_events]
    assert [d.ok for d in done] == [True, True], done
    assert done[0].result == {"expression": "2+3", "result": 5}
    assert token not in json.dumps([e.to_json() for e in events])

    missing = make_runtime(tmp_path / "other", scripted(answer("never")))
    with pytest.raises(ConfigError, match="needs secret 'mcp'"):
        await missing.run(agent, "go")
    missing.close()


def test_readme_mcp_servers_validate() -> None:
    readme = (ROOT / "README.md").read_text()
    [block] = [
        b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if b.startswith("mcp:")
    ]
    servers = [McpServer.parse(s, source="README") for s in yaml.safe_load(block)["mcp"]]
    assert [s.url is not None for s in servers] == [True, False]
    assert servers[0].header_secrets == {"Authorization": "crm_mcp_token"}
