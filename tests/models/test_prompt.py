from __future__ import annotations

import json

from tether.models import _prompt
from tether.types import (
    AssistantMessage,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)


def test_system_message_lists_tools_with_parameter_descriptions(
    tools: tuple[ToolSpec, ...],
) -> None:
    chat = _prompt.render_messages(
        (SystemMessage(content="You are Calc."), UserMessage(content="What is 17 * 23?")),
        tools=tools,
    )
    assert [m["role"] for m in chat] == ["system", "user"]
    system = chat[0]["content"]
    assert system.startswith("You are Calc.")
    assert "- calculator: Evaluate an arithmetic expression and return the number." in system
    assert "args.expression (string): arithmetic, e.g. 2*(3+4)" in system
    assert "args.precision (integer, optional)" in system
    assert 'args.timezone (one of "UTC", "Europe/Paris", "Asia/Tokyo")' in system
    assert '{"answer": "<final answer>"}' in system
    assert chat[1] == {"role": "user", "content": "What is 17 * 23?"}


def test_tool_calls_render_as_steps_and_results_as_user_messages(
    tools: tuple[ToolSpec, ...],
) -> None:
    call = ToolCall(id="call_1", name="calculator", arguments={"expression": "17*23"})
    chat = _prompt.render_messages(
        (
            UserMessage(content="What is 17 * 23?"),
            AssistantMessage(tool_calls=(call,)),
            ToolResultMessage(tool_call_id="call_1", name="calculator", content='{"value": 391}'),
        ),
        tools=tools,
    )
    assert chat[0]["content"].startswith(_prompt.DEFAULT_INSTRUCTIONS)
    assert json.loads(chat[2]["content"]) == {"tool": "calculator", "args": {"expression": "17*23"}}
    assert chat[3] == {
        "role": "user",
        "content": f"Result of calculator {_prompt.DATA_MARK}: "
        f'{{"value": 391}}\n{_prompt.RESULT_NUDGE}',
    }


def test_errors_and_parallel_results_merge_into_one_user_message() -> None:
    calls = (
        ToolCall(id="call_1", name="a", arguments={}),
        ToolCall(id="call_2", name="b", arguments={}),
    )
    chat = _prompt.render_messages(
        (
            UserMessage(content="go"),
            AssistantMessage(tool_calls=calls),
            ToolResultMessage(tool_call_id="call_1", name="a", content="1"),
            ToolResultMessage(tool_call_id="call_2", name="b", content="{}", is_error=True),
        )
    )
    assert chat[2]["content"].count("\n") == 1
    mark = _prompt.DATA_MARK
    assert chat[3] == {
        "role": "user",
        "content": f"Result of a {mark}: 1\nError from b {mark}: {{}}",
    }


def test_output_schema_mode_shows_the_schema_and_plain_mode_shows_no_format() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    with_schema = _prompt.render_messages((UserMessage(content="hi"),), output_schema=schema)
    assert (
        '{"type": "object", "properties": {"city": {"type": "string"}}}'
        in with_schema[0]["content"]
    )
    plain = _prompt.render_messages(
        (UserMessage(content="hi"), AssistantMessage(content="hello"), UserMessage(content="?"))
    )
    assert plain[0] == {"role": "system", "content": _prompt.DEFAULT_INSTRUCTIONS}
    assert plain[2] == {"role": "assistant", "content": "hello"}


def test_earlier_text_answers_render_as_answer_steps_when_tools_are_offered(
    tools: tuple[ToolSpec, ...],
) -> None:
    chat = _prompt.render_messages(
        (UserMessage(content="hi"), AssistantMessage(content="hello"), UserMessage(content="?")),
        tools=tools,
    )
    assert json.loads(chat[2]["content"]) == {"answer": "hello"}
