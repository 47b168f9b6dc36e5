"""``LocalModel`` with a fake ``Llama``: modes, validation and retries, without the model."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.models.conftest import FakeLlama, fake
from tether.errors import ConfigError, ModelError, ModelOutputError
from tether.models import LocalModel, Model
from tether.types import (
    AssistantMessage,
    ModelRequest,
    ModelSettings,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    Usage,
    UserMessage,
)

GOAL = (UserMessage(content="What is 17 * 23?"),)


def model(llama: FakeLlama, path: Path = Path("/nonexistent/model.gguf")) -> LocalModel:
    return LocalModel("local:test", path, llama=llama)


async def test_a_valid_step_becomes_a_tool_call(tools: tuple[ToolSpec, ...]) -> None:
    llama = fake(['{"tool": "calculator", "args": {"expression": "17*23"}}'])
    m = model(llama)
    assert isinstance(m, Model)
    response = await m.request(ModelRequest(messages=GOAL, tools=tools))
    assert response.tool_calls == (
        ToolCall(id="call_1", name="calculator", arguments={"expression": "17*23"}),
    )
    assert response.finish_reason == "tool_calls"
    assert response.text is None
    assert (response.model, response.attempts, response.usage) == (
        "local:test",
        1,
        Usage(input_tokens=10, output_tokens=3),
    )
    assert response.latency_ms > 0
    call = llama.calls[0]
    assert call["grammar"] is not None
    assert (call["temperature"], call["max_tokens"], call["seed"]) == (0.0, 256, 0)
    assert call["messages"][-1] == {"role": "user", "content": "What is 17 * 23?"}


async def test_call_ids_count_the_calls_already_made(tools: tuple[ToolSpec, ...]) -> None:
    earlier = ToolCall(id="call_1", name="calculator", arguments={"expression": "1"})
    messages = (
        *GOAL,
        AssistantMessage(tool_calls=(earlier,)),
        ToolResultMessage(tool_call_id="call_1", name="calculator", content="1"),
    )
    llama = fake(['{"tool": "get_datetime", "args": {"timezone": "UTC"}}'])
    response = await model(llama).request(ModelRequest(messages=messages, tools=tools))
    assert response.tool_calls[0].id == "call_2"


async def test_an_answer_step_becomes_text(tools: tuple[ToolSpec, ...]) -> None:
    response = await model(fake(['{"answer": "391"}'])).request(
        ModelRequest(messages=GOAL, tools=tools)
    )
    assert (response.text, response.tool_calls, response.finish_reason) == ("391", (), "stop")


async def test_invalid_output_is_retried_with_another_seed(tools: tuple[ToolSpec, ...]) -> None:
    llama = fake(
        [
            '{"tool": "calculator", "args": {"expression": "1", "precision": 99}}',  # > maximum
            ('{"answer": "39', "length"),  # cut at max_tokens
            '{"answer": "391"}',
        ]
    )
    settings = ModelSettings(seed=7, max_tokens=64)
    response = await model(llama).request(
        ModelRequest(messages=GOAL, tools=tools, settings=settings)
    )
    assert response.text == "391"
    assert response.attempts == 3
    assert response.usage == Usage(input_tokens=30, output_tokens=9)
    assert [c["seed"] for c in llama.calls] == [7, 8, 9]
    assert [c["temperature"] for c in llama.calls] == [0.0, 0.7, 0.7]


async def test_output_still_invalid_after_retries_raises(tools: tuple[ToolSpec, ...]) -> None:
    llama = fake(["not json", '{"tool": "nope", "args": {}}', ('{"answer": "', "length")])
    with pytest.raises(ModelOutputError, match=r"invalid output 3 times") as info:
        await model(llama).request(ModelRequest(messages=GOAL, tools=tools))
    message = str(info.value)
    assert "attempt 1: output is not JSON" in message
    assert "attempt 2: output violates the schema" in message
    assert "attempt 3: output cut at max_tokens" in message


async def test_output_schema_mode_returns_validated_json_text() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1}},
        "required": ["n"],
    }
    llama = fake(['{"n": 0}', ' {"n": 3} '])
    response = await model(llama).request(ModelRequest(messages=GOAL, output_schema=schema))
    assert json.loads(response.text or "") == {"n": 3}
    assert response.text == '{"n": 3}'
    assert response.attempts == 2


async def test_plain_mode_has_no_grammar_and_reports_cut_output() -> None:
    llama = fake([("Once upon a time", "length")])
    response = await model(llama).request(ModelRequest(messages=GOAL))
    assert (response.text, response.finish_reason, response.attempts) == (
        "Once upon a time",
        "length",
        1,
    )
    assert llama.calls[0]["grammar"] is None


async def test_model_version_names_the_file_and_its_size(tmp_path: Path) -> None:
    weights = tmp_path / "tiny.gguf"
    weights.write_bytes(b"x" * 42)
    response = await model(fake(["hi"]), weights).request(ModelRequest(messages=GOAL))
    assert response.model_version == "tiny.gguf:42"


async def test_llama_errors_become_model_errors() -> None:
    class Overflowing(FakeLlama):
        def create_chat_completion(self, **kwargs: object) -> dict[str, object]:
            raise ValueError("Requested tokens (5000) exceed context window of 4096")

    with pytest.raises(ModelError, match="exceed context window"):
        await model(Overflowing([])).request(ModelRequest(messages=GOAL))


async def test_unusable_tool_schema_is_a_model_error() -> None:
    bad = ToolSpec(name="bad", description="", input_schema={"$ref": "http://x/y.json"})
    with pytest.raises(ModelError, match="cannot force this schema"):
        await model(fake([])).request(ModelRequest(messages=GOAL, tools=(bad,)))


async def test_missing_model_file_names_the_path_and_setting(tmp_path: Path) -> None:
    missing = tmp_path / "gone.gguf"
    with pytest.raises(ConfigError, match=r"gone\.gguf.*TETHER_MODEL_PATH"):
        await LocalModel("local:x", missing).request(ModelRequest(messages=GOAL))


async def test_missing_llama_cpp_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(ConfigError, match=r"make run.*tether\[local\]"):
        await LocalModel("local:x", weights, n_ctx=1234).request(ModelRequest(messages=GOAL))


async def test_concurrent_requests_never_overlap_on_one_llama() -> None:
    class Slow(FakeLlama):
        active = 0
        peak = 0

        def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
            Slow.active += 1
            Slow.peak = max(Slow.peak, Slow.active)
            time.sleep(0.02)
            Slow.active -= 1
            return super().create_chat_completion(**kwargs)

    m = model(Slow([(f"answer {i}", "stop") for i in range(6)]))
    responses = await asyncio.gather(*(m.request(ModelRequest(messages=GOAL)) for _ in range(6)))
    assert sorted(r.text or "" for r in responses) == [f"answer {i}" for i in range(6)]
    assert Slow.peak == 1
