"""A deterministic supervisor model for team tests in worker processes: it hands one task to
each worker in one step, then answers with what they said (decided from the conversation
alone, so a resumed process makes the same choices)."""

from __future__ import annotations

import json

from tether.types import ModelRequest, ModelResponse, ToolCall, ToolResultMessage, Usage


class LeadModel:
    id = "python:tests.team_models:lead"

    async def request(self, request: ModelRequest) -> ModelResponse:
        results = [m for m in request.messages if isinstance(m, ToolResultMessage)]
        usage = Usage(input_tokens=20, output_tokens=5)
        if not results:
            calls = (
                ToolCall(id="h0", name="handoff_to_first", arguments={"task": "bump once"}),
                ToolCall(id="h1", name="handoff_to_second", arguments={"task": "bump again"}),
            )
            return ModelResponse(tool_calls=calls, usage=usage, model=self.id)
        answers = [json.loads(m.content).get("answer", "?") for m in results]
        return ModelResponse(text="; ".join(answers), usage=usage, model=self.id)


def lead() -> LeadModel:
    return LeadModel()
