"""Tools that run in a subprocess (``isolation="process"``); importable by the child."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tether import ToolContext, tool
from tether.tools import RetryPolicy


@tool(isolation="process", timeout_ms=6000, retry=RetryPolicy(max_attempts=1))
def stubborn(ctx: ToolContext, pid_file: str) -> str:
    """Write this process's id, then sleep 30 s whatever the timeout says (6 s: time enough
    for the child to start on a loaded machine)."""
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(30)
    return "too late"


@tool(isolation="process", secrets=("vault_read",))
def whoami(ctx: ToolContext, greeting: str) -> dict[str, object]:
    """Answer from another process, with a secret's length and the run facts."""
    print("noise on stdout")  # must not corrupt the reply
    return {
        "greeting": greeting,
        "pid": os.getpid(),
        "secret_length": len(ctx.secrets["vault_read"]),
        "key": ctx.idempotency_key,
    }


@tool(isolation="process")
def broken(n: int) -> int:
    """Fails in its subprocess."""
    raise ValueError(f"cannot handle {n}")
