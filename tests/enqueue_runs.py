"""Create N runs of an agent and put them on the workers' queue: ``python -m tests.enqueue_runs
AGENT N PREFIX``. Prints the run ids, one a line. Reads TETHER_* from the environment."""

from __future__ import annotations

import asyncio
import sys

from tether import durable
from tether.agent.spec import load_agent
from tether.runtime import Runtime
from tether.types import RunStatus


async def _create(rt: Runtime, agent_path: str, count: int, prefix: str) -> list[str]:
    agent = load_agent(agent_path)
    ids = []
    for i in range(count):
        ctx = await rt.start(agent, f"{prefix} {i}", status=RunStatus.QUEUED)
        ids.append(ctx.run_id)
    return ids


def main(agent_path: str, count: int, prefix: str) -> None:
    rt = Runtime(durable=True)
    try:
        ids = asyncio.run(_create(rt, agent_path, count, prefix))
        durable.enqueue_runs(rt, ids)
    finally:
        rt.close()
    print("\n".join(ids), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
