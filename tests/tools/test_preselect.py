"""Tool retrieval ranks the right tools first; goals split into clauses."""

from __future__ import annotations

import pytest

from tether.tools import BUILTIN_TOOLS, ToolContract, preselect, split_subgoals, tool
from tether.tools.preselect import score_tools, tokenize


def _contract(name: str, description: str, **params: str) -> ToolContract:
    properties = {p: {"type": "string", "description": d} for p, d in params.items()}
    return ToolContract(
        name=name,
        description=description,
        input_schema={
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        },
    )


@tool
def get_weather(city: str) -> str:
    """Get the weather forecast and temperature for a city.

    Args:
        city: The city name.
    """
    return city


CONTRACTS: list[ToolContract] = [
    *(t.contract for t in BUILTIN_TOOLS),
    get_weather.contract,
    _contract("send_email", "Send an email message to a recipient.", to="Address", body="Text"),
    _contract("search_web", "Search the web for pages about a query.", query="Search terms"),
    _contract("translate_text", "Translate text into another language.", target="Language code"),
    _contract("convert_currency", "Convert an amount between currencies at today's rate."),
    _contract("create_calendar_event", "Create a calendar event (meeting) on a given day."),
    _contract("query_database", "Run a read-only SQL query against the sales database."),
    _contract("resize_image", "Resize an image to a width and height in pixels."),
]
NAMES = [c.name for c in CONTRACTS]


def test_there_are_a_dozen_tools() -> None:
    assert len(CONTRACTS) == 12
    assert len(set(NAMES)) == 12


@pytest.mark.parametrize(
    ("goal", "expected"),
    [
        ("What is 17 * 23?", "calculator"),
        ("multiply 12 by 7 and add 3", "calculator"),
        ("calculate the square root of 144", "calculator"),
        ("What day is it today?", "current_datetime"),
        ("what time is it now in Tokyo", "current_datetime"),
        ("read the contents of notes.txt", "read_file"),
        ("open the file report.md and summarize it", "read_file"),
        ("which files are in the docs folder?", "list_files"),
        ("will it rain in Paris tomorrow? check the forecast", "get_weather"),
        ("email Bob the report", "send_email"),
        ("translate 'good morning' into Spanish", "translate_text"),
        ("how many euros is 100 dollars (currency exchange)", "convert_currency"),
        ("look up the latest python release on the web", "search_web"),
        ("show total sales per region from the database", "query_database"),
    ],
)
def test_right_tool_ranks_in_top_3(goal: str, expected: str) -> None:
    top = preselect(goal, CONTRACTS, 3)
    assert len(top) == 3
    assert expected in top, (goal, top)


def test_best_match_is_first_for_clear_goals() -> None:
    assert preselect("calculate 2 + 2", CONTRACTS, 1) == ["calculator"]
    assert preselect("current date", CONTRACTS, 1) == ["current_datetime"]
    assert preselect("weather in Oslo", CONTRACTS, 1) == ["get_weather"]


def test_typos_still_match_through_trigrams() -> None:
    assert preselect("wether forcast for Rome", CONTRACTS, 1) == ["get_weather"]


def test_deterministic_and_ties_broken_by_name() -> None:
    first = preselect("something entirely unrelated zzz", CONTRACTS, 12)
    assert first == preselect("something entirely unrelated zzz", CONTRACTS, 12)
    assert sorted(first) == sorted(NAMES)
    scores = score_tools("qqq", CONTRACTS)
    assert all(score == 0 for score in scores.values())
    assert preselect("qqq", CONTRACTS, 12) == sorted(NAMES)


def test_k_bounds() -> None:
    assert preselect("calculate", CONTRACTS, 0) == []
    assert len(preselect("calculate", CONTRACTS, 50)) == 12
    assert preselect("calculate", [], 3) == []


def test_tokenize_stems_and_splits() -> None:
    assert tokenize("Reading files_and CamelCase tools") == [
        "read",
        "file",
        "camel",
        "case",
        "tool",
    ]


@pytest.mark.parametrize(
    ("goal", "clauses"),
    [
        ("What is 17 * 23?", ["What is 17 * 23?"]),
        (
            "compute 17 * 23 and tell me the date",
            ["compute 17 * 23", "tell me the date"],
        ),
        ("read notes.txt; then list the docs folder", ["read notes.txt", "list the docs folder"]),
        (
            "First read the file, then count its words",
            ["read the file", "count its words"],
        ),
        (
            "open the report and then email it to Bob",
            ["open the report", "email it to Bob"],
        ),
        ("Get the weather. Send it to Ann!", ["Get the weather.", "Send it to Ann!"]),
        ("buy salt and pepper", ["buy salt and pepper"]),
        ("add 3.5 and 4", ["add 3.5 and 4"]),
        (
            "check the weather, and book a table for two",
            ["check the weather", "book a table for two"],
        ),
        ("", []),
        ("   ", []),
    ],
)
def test_split_subgoals(goal: str, clauses: list[str]) -> None:
    assert split_subgoals(goal) == clauses


def test_preselect_per_clause_covers_each_need() -> None:
    goal = "multiply 6 by 7 and then tell me what weekday it is"
    picked = [preselect(clause, CONTRACTS, 1)[0] for clause in split_subgoals(goal)]
    assert picked == ["calculator", "current_datetime"]
