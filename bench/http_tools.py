"""HTTP tool cost against a local server; writes bench/results/http_tools.json (DESIGN §5).

- http_tool_over_plain_httpx: median latency of an HTTP tool call (prepare, validate, execute,
  SSRF guard, response shaping; one pooled client) over a plain ``httpx.AsyncClient`` GET of
  the same URL, both measured in this run; 300 calls each.
- per_call_client_over_pooled: the same tool without ``async with toolset`` (a client opened and
  closed per call, as for agent-file tools) over the pooled toolset.
- guard_check_us: the pure SSRF decision for one address, median over 20000.
"""

from __future__ import annotations

import asyncio
import ipaddress
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import metric, write_results
from tether.tools import ToolContext, ToolExecutor, ToolRegistry
from tether.tools.http import AllowList, HttpToolset, check, load_http_tools
from tether.types import ToolCall

N = 300


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add 40 ms per keep-alive request

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"id": 7, "name": "Tom"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def median_ms(fn: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(20):
        await fn()
    samples = []
    for _ in range(N):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def measure(url: str, folder: Path) -> dict[str, float]:
    path = folder / "t.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "base_url": url,
                "allow": ["127.0.0.1"],
                "tools": [{"name": "get_pet", "description": "A pet.", "url": "/pets/{id}"}],
            }
        )
    )
    toolset: HttpToolset = load_http_tools(path)
    registry = ToolRegistry(toolset.tools)
    executor = ToolExecutor()
    ctx = ToolContext(run_id="b", idempotency_key="k", workspace=folder, call_id="c")

    async def tool_call() -> None:
        call = ToolCall(id="c", name="get_pet", arguments={"id": "7"})
        outcome = await executor.execute(executor.prepare(registry, call), ctx)
        assert outcome.ok, outcome.error

    per_call = await median_ms(tool_call)
    async with toolset:
        pooled = await median_ms(tool_call)
    async with httpx.AsyncClient(trust_env=False) as client:

        async def plain() -> None:
            (await client.get(f"{url}/pets/7")).json()

        baseline = await median_ms(plain)
    return {"pooled": pooled, "per_call": per_call, "plain": baseline}


def guard_us() -> float:
    allow = AllowList.parse(["10.0.0.0/8"])
    address = [ipaddress.ip_address("93.184.216.34")]
    started = time.perf_counter()
    for _ in range(20000):
        check("example.com", address, allow)
    return (time.perf_counter() - started) / 20000 * 1e6


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            times = asyncio.run(measure(url, Path(folder)))
    finally:
        server.shutdown()
        server.server_close()
    path = write_results(
        "http_tools.json",
        {
            "http_tool_over_plain_httpx": metric(
                times["pooled"] / times["plain"],
                "ratio",
                goal="<= 2",
                note=f"tool {times['pooled']:.3f} ms vs plain httpx {times['plain']:.3f} ms",
            ),
            "per_call_client_over_pooled": metric(
                times["per_call"] / times["pooled"],
                "ratio",
                note=f"per-call client {times['per_call']:.3f} ms",
            ),
            "guard_check_us": metric(guard_us(), "us", goal="< 50"),
        },
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
