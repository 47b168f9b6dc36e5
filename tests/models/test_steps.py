from __future__ import annotations

import pytest

from tests.models.conftest import CALCULATOR, CLOCK
from tether.models import _steps


def test_bound_schema_bounds_free_strings_and_arrays_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "free": {"type": "string"},
            "short": {"type": "string", "maxLength": 5},
            "choice": {"type": "string", "enum": ["a", "b"]},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "maybe": {"type": ["string", "null"]},
        },
    }
    props = _steps.bound_schema(schema)["properties"]
    assert props["free"] == {"type": "string", "maxLength": _steps.MAX_STRING}
    assert props["short"]["maxLength"] == 5
    assert "maxLength" not in props["choice"]
    assert "maxLength" not in props["code"]
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string", "maxLength": _steps.MAX_STRING},
        "maxItems": _steps.MAX_ITEMS,
    }
    assert props["maybe"]["maxLength"] == _steps.MAX_STRING
    assert "maxLength" not in schema["properties"]["free"]  # the input is not changed


def test_bound_schema_inlines_local_refs() -> None:
    schema = {
        "type": "object",
        "properties": {"point": {"$ref": "#/$defs/Point"}},
        "$defs": {"Point": {"type": "object", "properties": {"label": {"type": "string"}}}},
    }
    out = _steps.bound_schema(schema)
    assert "$defs" not in out
    assert out["properties"]["point"]["properties"]["label"]["maxLength"] == _steps.MAX_STRING


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "https://example.com/schema.json"},
        {"$ref": "#/$defs/Node", "$defs": {"Node": {"items": {"$ref": "#/$defs/Node"}}}},
    ],
)
def test_bound_schema_rejects_remote_and_recursive_refs(schema: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="reference"):
        _steps.bound_schema(schema)


def test_step_schema_is_any_of_tools_then_answer() -> None:
    schema = _steps.step_schema([CALCULATOR, CLOCK])
    alternatives = schema["anyOf"]
    assert [a["properties"].get("tool") for a in alternatives] == [
        {"const": "calculator"},
        {"const": "get_datetime"},
        None,
    ]
    for alt in alternatives:
        assert alt["additionalProperties"] is False
    assert alternatives[0]["required"] == ["tool", "args"]
    expression = alternatives[0]["properties"]["args"]["properties"]["expression"]
    assert expression["maxLength"] == _steps.MAX_STRING
    assert alternatives[2] == {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": _steps.MAX_ANSWER}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def test_parse_step_reads_tool_calls_and_answers() -> None:
    schema = _steps.step_schema([CALCULATOR, CLOCK])
    call = _steps.parse_step('{"tool": "calculator", "args": {"expression": "17*23"}}', schema)
    assert call == _steps.Step(tool="calculator", args={"expression": "17*23"})
    assert _steps.parse_step('{"answer": "391"}', schema) == _steps.Step(answer="391")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"tool": "calculator", "args": {"expression": "1"', "not JSON"),
        ('{"tool": "calculator", "args": {"expression": "1", "precision": 99}}', "99"),
        ('{"tool": "get_datetime", "args": {"timezone": "Mars"}}', "Mars"),
        ('{"tool": "rm_rf", "args": {}}', "violates"),
        ('{"answer": "x", "extra": 1}', "violates"),
    ],
)
def test_parse_step_rejects_invalid_output(text: str, why: str) -> None:
    with pytest.raises(_steps.StepError, match=why):
        _steps.parse_step(text, _steps.step_schema([CALCULATOR, CLOCK]))


def test_small_integer_ranges_become_enums_the_grammar_can_enforce() -> None:
    schema = {
        "type": "object",
        "properties": {
            "small": {"type": "integer", "minimum": 0, "maximum": 3},
            "large": {"type": "integer", "minimum": 0, "maximum": 1000},
            "open": {"type": "integer", "minimum": 0},
        },
    }
    props = _steps.bound_schema(schema)["properties"]
    assert props["small"]["enum"] == [0, 1, 2, 3]
    assert "enum" not in props["large"]
    assert "enum" not in props["open"]
