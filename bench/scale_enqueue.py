"""The scale benchmark's two set-up steps, each a child process reading TETHER_* settings:

- ``python -m bench.scale_enqueue create AGENT N``: create N queued runs (not enqueued yet);
  prints their ids, one a line.
- ``python -m bench.scale_enqueue enqueue IDS_FILE``: put those runs on the workers' queue.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tether import durable
from tether.agent.spec import load_agent
from tether.runtime import Runtime
from tether.types import RunStatus


async def _create(rt: Runtime, agent_path: str, count: int) -> list[str]:
    agent = load_agent(agent_path)
    return [
        (await rt.start(agent, f"job {i}", status=RunStatus.QUEUED)).run_id for i in range(count)
    ]


def main(argv: list[str]) -> None:
    rt = Runtime(durable=True)
    try:
        if argv[0] == "create":
            print("\n".join(asyncio.run(_create(rt, argv[1], int(argv[2])))))
        else:
            durable.enqueue_runs(rt, Path(argv[1]).read_text().split())
    finally:
        rt.close()


if __name__ == "__main__":
    main(sys.argv[1:])
