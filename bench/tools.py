"""Tool-layer overhead and sandbox cost; writes bench/results/tools.json (DESIGN §5).

- tool_call_overhead_ms: prepare (canonicalize, validate) + execute (timeout, retry, rate
  limit, breaker, bulkhead, cache check) of a no-op async tool, without the journal write;
  median over 2000 calls.
- sandbox_over_subprocess: sandboxed `print(1)` over a plain subprocess of the same Python.
- parallel_reads_over_one: wall time of a run whose one step asks for 4 sync reads of 50 ms
  each, over the same run asking for 1 (1.0 = fully parallel, 4.0 = serial); same runtime.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import metric, write_results
from bench.sandbox_bench import median_ms
from tether.tools import ToolContext, ToolExecutor, ToolRegistry, tool
from tether.tools.resilience import ResilientToolExecutor
from tether.tools.sandbox import SandboxConfig, _interpreter, run_python
from tether.types import ToolCall

N = 2000


@tool
async def noop(n: int) -> int:
    """Do nothing.

    Args:
        n: any integer
    """
    return n


async def call_times() -> list[float]:
    registry = ToolRegistry([noop])
    executor = ResilientToolExecutor(ToolExecutor())
    ctx = ToolContext(run_id="bench", idempotency_key="k", call_id="c", workspace=Path("."))
    samples = []
    for i in range(N):
        started = time.perf_counter()
        prepared = executor.prepare(registry, ToolCall(id="c", name="noop", arguments={"n": i}))
        await executor.execute(prepared, ctx)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@tool
def wait_50ms(n: int) -> int:
    """Wait 50 ms (a slow read).

    Args:
        n: any integer
    """
    time.sleep(0.05)
    return n


def parallel_ratio() -> float:
    """Median wall time of a 4-read step over a 1-read step, through the whole loop."""
    import tempfile

    from tether import Agent, Runtime
    from tether.settings import Settings
    from tether.testing import ScriptedModel, answer, calls

    def run_once(home: Path, n: int) -> float:
        steps = [calls(*(("wait_50ms", {"n": i}) for i in range(n))), answer("ok")]
        settings = Settings(home=home, workspace=home)
        rt = Runtime(settings=settings, models={"scripted": ScriptedModel(steps=steps)})
        agent = Agent(name="par", model="scripted", tools=[wait_50ms], preselect_k=8)
        started = time.perf_counter()
        rt.run_sync(agent, "wait")
        elapsed = time.perf_counter() - started
        rt.close()
        return elapsed

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        run_once(home, 1)  # warm up: creates the database
        ones = [run_once(home, 1) for _ in range(7)]
        fours = [run_once(home, 4) for _ in range(7)]
    return statistics.median(fours) / statistics.median(ones)


def main() -> None:
    overhead = statistics.median(asyncio.run(call_times()))
    parallel = parallel_ratio()
    config = SandboxConfig()
    python, _ = _interpreter(config)
    import subprocess

    sandboxed = median_ms(lambda: run_python("print(1)", config))
    plain = median_ms(lambda: subprocess.run([python, "-c", "print(1)"], capture_output=True))
    path = write_results(
        "tools.json",
        {
            "tool_call_overhead_ms": metric(
                overhead, "ms", "<= 0.3", f"no-op async tool, median of {N}, no journal write"
            ),
            "sandbox_over_subprocess": metric(
                sandboxed / plain,
                "ratio",
                "<= 1.6",
                f"sandbox print(1) {sandboxed} ms over plain "
                f"subprocess {plain} ms, same interpreter",
            ),
            "parallel_reads_over_one": metric(
                parallel,
                "ratio",
                "<= 1.5",
                "a step of 4 sync 50 ms reads over a step of 1, whole loop on SQLite, median of 7",
            ),
        },
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
