"""Contracts and the @tool decorator: schemas from hints and docstrings, and bad definitions."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from tether.errors import ConfigError
from tether.tools import RetryPolicy, Tool, ToolContext, ToolContract, tool
from tether.tools.docstrings import parse_docstring
from tether.types import ToolSpec

OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"q": {"type": "string"}},
    "required": ["q"],
    "additionalProperties": False,
}


def test_contract_defaults_and_spec() -> None:
    contract = ToolContract(name="search", description="Find things.", input_schema=OBJECT_SCHEMA)
    assert contract.side_effect == "read"
    assert contract.idempotent is False
    assert contract.timeout_ms == 10_000
    assert contract.retry == RetryPolicy(max_attempts=3, backoff_s=0.05, max_backoff_s=2.0)
    assert contract.cost == Decimal(0)
    assert contract.version == "1"
    assert contract.spec() == ToolSpec(
        name="search", description="Find things.", input_schema=OBJECT_SCHEMA
    )
    with pytest.raises(FrozenInstanceError):
        contract.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"name": "1bad"}, "name must match"),
        ({"name": "has space"}, "name must match"),
        ({"name": "x" * 65}, "name must match"),
        ({"input_schema": {"type": "object", "properties": {}}}, '"additionalProperties": false'),
        ({"input_schema": {"type": "string", "additionalProperties": False}}, "object schema"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"timeout_ms": -5}, "timeout_ms"),
        ({"side_effect": "delete"}, "side_effect"),
        ({"rate_limit_qps": 0}, "rate_limit_qps"),
        ({"cost": Decimal("-1")}, "cost"),
    ],
)
def test_bad_contract_is_config_error(changes: dict[str, Any], fragment: str) -> None:
    fields: dict[str, Any] = {
        "name": "search",
        "description": "Find things.",
        "input_schema": OBJECT_SCHEMA,
        **changes,
    }
    with pytest.raises(ConfigError) as info:
        ToolContract(**fields)
    message = str(info.value)
    assert fragment in message
    assert repr(fields["name"]) in message  # names the tool


def test_bad_retry_policy() -> None:
    with pytest.raises(ConfigError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_retry_delay_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(backoff_s=0.1, max_backoff_s=0.3)
    assert policy.delay_s(1, 1.0) == pytest.approx(0.1)
    assert policy.delay_s(2, 1.0) == pytest.approx(0.2)
    assert policy.delay_s(3, 1.0) == pytest.approx(0.3)  # capped
    assert policy.delay_s(2, 0.0) == pytest.approx(0.1)  # jitter halves at most


class Opaque:
    """Not a type pydantic can describe."""


class Address(BaseModel):
    city: str
    zip_code: str


def test_schema_from_type_hints_and_docstring() -> None:
    @tool
    def book_flight(
        ctx: ToolContext,
        origin: Annotated[str, Field(max_length=3)],
        seats: int,
        cabin: Literal["economy", "business"] = "economy",
        note: str | None = None,
    ) -> str:
        """Book a flight for the user.

        This paragraph is not part of the description.

        Args:
            ctx: Injected by the runtime.
            origin: IATA code of the departure airport.
            seats: How many seats
                to book (continues on a second line).
            cabin: The cabin class.
            note: Free text.

        Returns:
            A booking reference.
        """
        return "ok"

    assert isinstance(book_flight, Tool)
    contract = book_flight.contract
    assert contract.name == "book_flight"
    assert contract.description == "Book a flight for the user."
    schema = contract.input_schema
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"origin", "seats", "cabin", "note"}
    assert "ctx" not in schema["properties"]
    assert schema["required"] == ["origin", "seats"]
    assert schema["properties"]["origin"]["maxLength"] == 3
    assert schema["properties"]["origin"]["description"] == "IATA code of the departure airport."
    assert schema["properties"]["seats"]["type"] == "integer"
    assert schema["properties"]["seats"]["description"] == (
        "How many seats to book (continues on a second line)."
    )
    assert schema["properties"]["cabin"]["enum"] == ["economy", "business"]
    assert "title" not in schema
    assert book_flight.wants_context == "ctx"


def test_decorator_with_options_and_nested_model() -> None:
    @tool(
        name="ship",
        side_effect="write",
        idempotent=True,
        timeout_ms=500,
        cost="0.01",
        auth_scope="orders.write",
        rate_limit_qps=2.0,
        version="2",
        output_schema={"type": "string"},
    )
    def ship_order(address: Address, express: bool = False) -> str:
        """Ship an order."""
        return address.city

    contract = ship_order.contract
    assert contract.name == "ship"
    assert (contract.side_effect, contract.idempotent, contract.timeout_ms) == ("write", True, 500)
    assert contract.cost == Decimal("0.01")
    assert contract.auth_scope == "orders.write"
    assert contract.rate_limit_qps == 2.0
    assert contract.version == "2"
    assert contract.output_schema == {"type": "string"}
    assert ship_order.wants_context is None
    assert contract.input_schema["required"] == ["address"]
    # a nested model argument reaches the function as the model, not as a dict
    assert ship_order.fn(address={"city": "Oslo", "zip_code": "0150"}) == "Oslo"


def test_description_can_be_given_explicitly() -> None:
    @tool(description="Explicit text.")
    def nodoc(x: int) -> int:
        return x

    assert nodoc.contract.description == "Explicit text."


def test_missing_description_is_config_error() -> None:
    def nodoc(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match="docstring"):
        tool(nodoc)


def test_missing_hint_is_config_error() -> None:
    def untyped(x) -> int:  # type: ignore[no-untyped-def]
        """Untyped."""
        return 1

    with pytest.raises(ConfigError, match="'x' has no type hint"):
        tool(untyped)


def test_var_args_are_config_error() -> None:
    def star(*items: int) -> int:
        """Star."""
        return 1

    with pytest.raises(ConfigError, match="'items'"):
        tool(star)


def test_unrepresentable_type_is_config_error() -> None:
    def takes_path(where: Path) -> int:
        """Path is fine."""
        return 1

    assert tool(takes_path).contract.input_schema["properties"]["where"]["type"] == "string"

    def takes_object(thing: Opaque) -> int:
        """Not JSON."""
        return 1

    with pytest.raises(ConfigError, match="JSON Schema"):
        tool(takes_object)


def test_bad_tool_name_through_decorator() -> None:
    def fine(x: int) -> int:
        """Fine."""
        return x

    with pytest.raises(ConfigError, match="name must match"):
        tool(name="not ok")(fine)


def test_parse_docstring_sections() -> None:
    doc = parse_docstring(
        """Summary line one
        and two.

        Args:
            a (int): First.
            b: Second,
                continued.

        Raises:
            ValueError: never listed as a parameter.
        """
    )
    assert doc.summary == "Summary line one and two."
    assert doc.params == {"a": "First.", "b": "Second, continued."}
    assert parse_docstring(None).summary == ""
