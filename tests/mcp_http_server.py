"""A Streamable HTTP MCP server built with the SDK's ``MCPServer`` (the former FastMCP), for
tests: ``python -m tests.mcp_http_server PORT STATE_FILE``. Its tools read and write a JSON file,
so a test can count effects."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

PORT, STATE = int(sys.argv[1]), Path(sys.argv[2])
server = MCPServer("notes", log_level="WARNING")


def _load() -> dict[str, str]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


@server.tool(annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True))
def get_note(key: str) -> str:
    """Read the note stored under a key."""
    return _load().get(key, "")


@server.tool()
def put_note(key: str, text: str) -> str:
    """Store a note under a key."""
    notes = _load() | {key: text}
    STATE.write_text(json.dumps(notes))
    return f"stored {key}"


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def wipe_notes() -> str:
    """Delete every note."""
    STATE.write_text("{}")
    return "wiped"


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=PORT)
