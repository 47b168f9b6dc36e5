"""The registry: unique names, exact and normalized lookup, and helpful unknown-tool errors."""

from __future__ import annotations

import pytest

from tether.errors import ConfigError, UnknownToolError
from tether.tools import Tool, ToolRegistry, normalize_tool_name, tool


def make(name: str) -> Tool:
    def fn() -> str:
        """Do a thing."""
        return name

    return tool(name=name)(fn)


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(
        [make("get_weather"), make("send_email"), make("search_web"), make("calculator")]
    )


def test_lookup_api(registry: ToolRegistry) -> None:
    assert registry.names() == ["calculator", "get_weather", "search_web", "send_email"]
    assert [c.name for c in registry.contracts()] == registry.names()
    assert registry.get("send_email") is not None
    assert registry.get("Send_Email") is None  # get is exact
    assert len(registry) == 4
    assert "calculator" in registry


def test_duplicate_names_are_config_error() -> None:
    with pytest.raises(ConfigError, match="two tools are named 'dup'"):
        ToolRegistry([make("dup"), make("dup")])


def test_names_that_normalize_alike_are_config_error() -> None:
    with pytest.raises(ConfigError, match="differ only in case"):
        ToolRegistry([make("get_weather"), make("Get_Weather")])


@pytest.mark.parametrize(
    "requested",
    [
        "get_weather",
        "GET_WEATHER",
        "get-weather",
        "get weather",
        "get.weather",
        "functions.get_weather",
        "tools.get_weather",
        '"get_weather"',
        "  'get_weather'  ",
        "`Get-Weather`",
        "get_weather()",
    ],
)
def test_normalized_matches_resolve(registry: ToolRegistry, requested: str) -> None:
    assert registry.resolve(requested).contract.name == "get_weather"


def test_normalize_tool_name() -> None:
    assert normalize_tool_name(" functions.Send-Email ") == "send_email"
    assert normalize_tool_name("tools") == "tools"  # a bare prefix word is kept


def test_hallucinated_name_gets_did_you_mean(registry: ToolRegistry) -> None:
    with pytest.raises(UnknownToolError) as info:
        registry.resolve("get_wether")
    err = info.value
    assert err.tool == "get_wether"
    assert err.detail["requested"] == "get_wether"
    assert err.detail["did_you_mean"][0] == "get_weather"
    assert len(err.detail["did_you_mean"]) <= 3
    assert err.detail["available"] == registry.names()
    result = err.to_result()["error"]
    assert result["code"] == "unknown_tool"
    assert "available tools" in result["message"]
    assert "get_weather" in result["message"]


def test_unrelated_name_lists_available_without_suggestions(registry: ToolRegistry) -> None:
    with pytest.raises(UnknownToolError) as info:
        registry.resolve("launch_rocket_now")
    assert info.value.detail["did_you_mean"] == []
    assert info.value.detail["available"] == registry.names()
