"""Tools that worker processes of the governance tests import."""

from __future__ import annotations

import os
from pathlib import Path

from tether import tool
from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage


@tool(side_effect="high_risk")
def wipe(n: int) -> dict[str, int]:
    """Wipe record n for good.

    Args:
        n: the record number
    """
    with Path(os.environ["TETHER_TEST_EFFECTS"]).open("a") as f:
        f.write(f"wiped {n}\n")
    return {"wiped": n}


@tool(side_effect="write")
def archive(n: int) -> dict[str, int]:
    """Archive record n (a tier-1 write; the tests' policy makes it wait for a person).

    Args:
        n: the record number
    """
    with Path(os.environ["TETHER_TEST_EFFECTS"]).open("a") as f:
        f.write(f"archived {n}\n")
    return {"archived": n}


class ReviewModel:
    """Asks to wipe record 0 (or TETHER_TEST_TOOL) with its reason, then answers from what
    the tool said.

    Decides from the conversation alone, so any process that resumes the run makes the same
    choices. Every tool result it is shown is appended to TETHER_TEST_SEEN.
    """

    id = "python:tests.governance.agent_tools:review_model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        results = [m for m in request.messages if isinstance(m, ToolResultMessage)]
        usage = Usage(input_tokens=10, output_tokens=5)
        if not results:
            tool = os.environ.get("TETHER_TEST_TOOL", "wipe")
            call = ToolCall(id="call_0", name=tool, arguments={"n": 0})
            text = "record 0 duplicates record 1"
            return ModelResponse(text=text, tool_calls=(call,), usage=usage, model=self.id)
        _seen(results[-1].content)
        verdict = "stopped: not approved" if "approval_denied" in results[-1].content else "wiped"
        return ModelResponse(text=verdict, usage=usage, model=self.id)


def _seen(content: str) -> None:
    seen = os.environ.get("TETHER_TEST_SEEN")
    if seen:
        with Path(seen).open("a") as f:
            f.write(content + "\n")


def review_model() -> ReviewModel:
    return ReviewModel()
