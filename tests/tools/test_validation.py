"""Argument and output validation: every violation is listed and none reaches the tool."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from tether.errors import ConfigError, ToolArgumentError, ToolOutputError
from tether.tools import (
    Tool,
    ToolContext,
    ToolContract,
    ToolExecutor,
    ToolRegistry,
    ValidatorCache,
    tool,
    validate_arguments,
    validate_output,
)
from tether.types import ToolCall


def make_recorder() -> tuple[list[dict[str, Any]], Any]:
    calls: list[dict[str, Any]] = []

    @tool
    def transfer(
        amount: Annotated[int, Field(ge=1, le=1000)],
        currency: Literal["EUR", "USD"],
        memo: Annotated[str, Field(max_length=10)] = "",
    ) -> str:
        """Move money between accounts.

        Args:
            amount: Whole units to move.
            currency: The currency.
            memo: A short note.
        """
        calls.append({"amount": amount, "currency": currency, "memo": memo})
        return "done"

    return calls, transfer


def test_valid_arguments_pass_unchanged() -> None:
    _, transfer = make_recorder()
    args = {"amount": 5, "currency": "EUR"}
    assert validate_arguments(transfer.contract, args) is args


def test_every_violation_is_listed_with_a_hint() -> None:
    _, transfer = make_recorder()
    bad = {"amount": "5", "currency": "GBP", "memo": "x" * 11, "extra": 1}
    with pytest.raises(ToolArgumentError) as info:
        validate_arguments(transfer.contract, bad)
    err = info.value
    assert err.tool == "transfer"
    paths = sorted(e["path"] for e in err.detail["errors"])
    assert paths == ["$", "$.amount", "$.currency", "$.memo"]
    assert all(e["message"] and e["hint"] for e in err.detail["errors"])
    by_path = {e["path"]: e for e in err.detail["errors"]}
    assert "extra" in by_path["$"]["message"]
    assert "amount" in by_path["$"]["hint"]  # lists allowed properties
    assert "EUR" in by_path["$.currency"]["hint"]
    assert "10" in by_path["$.memo"]["hint"]
    assert err.detail["schema"] == transfer.contract.input_schema
    result = err.to_result()["error"]
    assert result["code"] == "invalid_arguments"
    assert "transfer" in result["message"]


def test_missing_required_and_range() -> None:
    _, transfer = make_recorder()
    with pytest.raises(ToolArgumentError) as info:
        validate_arguments(transfer.contract, {"amount": 0})
    messages = " ".join(e["message"] for e in info.value.detail["errors"])
    assert "'currency' is a required property" in messages
    assert "less than the minimum of 1" in messages


def test_non_object_arguments() -> None:
    _, transfer = make_recorder()
    with pytest.raises(ToolArgumentError, match="JSON object"):
        validate_arguments(transfer.contract, ["EUR"])


def test_no_silent_coercion_of_numbers_and_booleans() -> None:
    _, transfer = make_recorder()
    for amount in ("5", 5.5, True):
        with pytest.raises(ToolArgumentError):
            validate_arguments(transfer.contract, {"amount": amount, "currency": "EUR"})


async def test_invalid_arguments_never_reach_the_tool(ctx: ToolContext) -> None:
    calls, transfer = make_recorder()
    registry = ToolRegistry([transfer])
    executor = ToolExecutor()
    for args in ({"amount": -1, "currency": "EUR"}, {"currency": "EUR"}, {"amount": 3}):
        with pytest.raises(ToolArgumentError):
            executor.prepare(registry, ToolCall(id="c", name="transfer", arguments=args))
    assert calls == []
    prepared = executor.prepare(
        registry, ToolCall(id="c", name="transfer", arguments={"amount": 3, "currency": "USD"})
    )
    outcome = await executor.execute(prepared, ctx)
    assert outcome.ok and outcome.result == "done"
    assert calls == [{"amount": 3, "currency": "USD", "memo": ""}]


def test_output_validation() -> None:
    contract = ToolContract(
        name="count",
        description="Count.",
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        output_schema={
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
        },
    )
    assert validate_output(contract, {"n": 3}) == {"n": 3}
    with pytest.raises(ToolOutputError) as info:
        validate_output(contract, {"n": "three"})
    assert info.value.detail["errors"][0]["path"] == "$.n"
    assert info.value.to_result()["error"]["code"] == "invalid_output"


def test_no_output_schema_accepts_anything() -> None:
    _, transfer = make_recorder()
    sentinel = object()
    assert validate_output(transfer.contract, sentinel) is sentinel


def test_validator_cache_compiles_once_per_contract() -> None:
    _, transfer = make_recorder()
    cache = ValidatorCache()
    first = cache.get(transfer.contract)
    assert cache.get(transfer.contract) is first
    assert len(cache) == 1
    assert ValidatorCache().get(transfer.contract) is not first  # nothing shared globally


def test_invalid_json_schema_is_config_error() -> None:
    contract = ToolContract(
        name="broken",
        description="Broken schema.",
        input_schema={
            "type": "object",
            "properties": {"x": {"type": "no-such-type"}},
            "additionalProperties": False,
        },
    )
    with pytest.raises(ConfigError, match="'broken'"):
        validate_arguments(contract, {})
    with pytest.raises(ConfigError, match="not valid JSON Schema"):
        ToolRegistry([Tool(contract=contract, fn=lambda: None)])  # fails early, at registration


def test_registries_of_one_runtime_share_validators_by_schema_content() -> None:
    from copy import deepcopy

    from tether.tools import ToolRegistry, tool
    from tether.tools.validation import SharedValidators

    @tool
    def lookup(name: str) -> str:
        """Look a name up.

        Args:
            name: the name
        """
        return name

    shared = SharedValidators(size=2)
    first = ToolRegistry([lookup], shared=shared)
    assert len(shared) == 1
    copy = deepcopy(lookup.contract.input_schema)
    assert shared.compile("other", copy) is first.validators.get(lookup.contract)
    bad = {"type": "object", "properties": {"n": {"type": "nope"}}}
    with pytest.raises(ConfigError, match="not valid JSON Schema"):
        shared.compile("broken", bad)
    assert len(shared) == 1  # an invalid schema is not kept
    for n in range(3):
        shared.compile("t", {"type": "object", "properties": {f"p{n}": {"type": "string"}}})
    assert len(shared) == 2  # bounded: the oldest go
    shared.close()
    assert len(shared) == 0
