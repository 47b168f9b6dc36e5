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


class ReviewModel:
    """Asks to wipe record 0 (with its reason), then answers from what the tool said.

    Decides from the conversation alone, so any process that resumes the run makes the same
    choices. Every tool result it is shown is appended to TETHER_TEST_SEEN.
    """

    id = "python:tests.governance.agent_tools:review_model"

    async def request(self, request: ModelRequest) -> ModelResponse:
        results = [m for m in request.messages if isinstance(m, ToolResultMessage)]
        usage = Usage(input_tokens=10, output_tokens=5)
        if not results:
            call = ToolCall(id="call_0", name="wipe", arguments={"n": 0})
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
