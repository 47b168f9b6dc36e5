"""Tools and agents for the eval harness tests (importable, so runs can be rebuilt)."""

from __future__ import annotations

from typing import Any

from tether import Agent, tool
from tether.agent.spec import Limits
from tether.governance.guardrails import Guardrails


@tool(timeout_ms=2_000)
def inventory_lookup(sku: str) -> dict[str, Any]:
    """Look up a product's stock level in the inventory service.

    Args:
        sku: the product's stock-keeping unit
    """
    raise RuntimeError("inventory service is down")


@tool(side_effect="write")
def send_note(to: str, text: str) -> dict[str, str]:
    """Send a short note to someone.

    Args:
        to: the recipient's address
        text: the note
    """
    return {"status": "sent"}


def mixed_agent() -> Agent:
    """The demo tools plus a broken tool, with a guardrail that blocks ``list_files``."""
    return Agent(
        name="mixed",
        model="scripted",
        tools=["calculator", "read_file", "current_datetime", "list_files", inventory_lookup],
        guardrails=Guardrails(
            tools=["calculator", "read_file", "current_datetime", "inventory_lookup"]
        ),
        limits=Limits(max_steps=6, max_tool_calls=8),
        preselect_k=8,
    )
