"""OpenAPI import: a pet-store document served by a real server on 127.0.0.1, imported,
listed, called directly and by an agent run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.agent_helpers import make_runtime, scripted
from tests.tools.http_server import PetServer
from tether.errors import ConfigError
from tether.testing import answer, call
from tether.tools import ToolContext, ToolExecutor, ToolRegistry
from tether.tools.http import HttpToolset, load_openapi_tools, openapi_tool_file
from tether.types import RunStatus, ToolCall

SECRET = "openapi-token-abcdef0123456789"


def petstore(server_url: str = "http://127.0.0.1:1/v1") -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Pets", "version": "1"},
        "servers": [{"url": server_url}],
        "paths": {
            "/pets": {
                "get": {
                    "operationId": "listPets",
                    "summary": "List pets.",
                    "description": "Filter by tag.",
                    "parameters": [
                        {"name": "tag", "in": "query", "schema": {"type": "string"}},
                        {"$ref": "#/components/parameters/Limit"},
                    ],
                    "responses": {"200": {"description": "pets"}},
                },
                "post": {
                    "operationId": "createPet",
                    "summary": "Add a pet.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                        },
                    },
                    "responses": {"201": {"description": "created"}},
                },
            },
            "/pets/{petId}": {
                "parameters": [{"$ref": "#/components/parameters/PetId"}],
                "get": {"operationId": "showPetById", "summary": "One pet."},
                "delete": {
                    "operationId": "deletePet",
                    "summary": "Remove a pet.",
                    "x-tether-side-effect": "high_risk",
                },
            },
            "/whoami": {
                "get": {
                    "summary": "Who am I?",
                    "parameters": [
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}
                    ],
                }
            },
            "/tree": {
                "put": {
                    "operationId": "putTree",
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        }
                    },
                }
            },
        },
        "components": {
            "parameters": {
                "PetId": {
                    "name": "petId",
                    "in": "path",
                    "required": True,
                    "description": "The pet's id.",
                    "schema": {"type": "string"},
                },
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                },
            },
            "schemas": {
                "Pet": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {
                        "id": {"type": "integer", "readOnly": True},
                        "name": {"type": "string", "maxLength": 40, "example": "Rex"},
                        "tag": {"type": "string", "nullable": True},
                    },
                },
                "Node": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "children": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Node"},
                        },
                    },
                },
            },
        },
    }


def write_doc(tmp_path: Path, doc: dict[str, Any], name: str = "petstore.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc) if name.endswith(".json") else yaml.safe_dump(doc))
    return path


def test_one_tool_per_operation_with_schemas_from_the_spec(tmp_path: Path) -> None:
    toolset = load_openapi_tools(write_doc(tmp_path, petstore()))
    contracts = {t.name: t.contract for t in toolset.tools}
    assert sorted(contracts) == [
        "createPet",
        "deletePet",
        "get_whoami",
        "listPets",
        "putTree",
        "showPetById",
    ]
    tiers = {n: c.side_effect for n, c in contracts.items()}
    assert tiers == {
        "listPets": "read",
        "showPetById": "read",
        "get_whoami": "read",
        "createPet": "write",
        "putTree": "write",
        "deletePet": "high_risk",
    }
    assert contracts["listPets"].description == "List pets.\n\nFilter by tag."
    assert contracts["listPets"].input_schema == {
        "type": "object",
        "properties": {
            "tag": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        },
        "required": [],
        "additionalProperties": False,
    }
    # the body is flattened; readOnly id dropped; nullable as a JSON Schema type list
    assert contracts["createPet"].input_schema == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "tag": {"type": ["string", "null"]},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    show = contracts["showPetById"].input_schema
    assert show["required"] == ["petId"]
    assert show["properties"]["petId"]["description"] == "The pet's id."
    # a recursive schema is inlined once; its reference to itself becomes an open object
    tree = contracts["putTree"].input_schema
    assert tree["required"] == []
    assert tree["properties"]["children"]["items"] == {"type": "object"}
    ToolRegistry(toolset.tools)  # every schema compiles


async def call_tool(toolset: HttpToolset, tmp_path: Path, name: str, /, **args: Any) -> Any:
    executor = ToolExecutor()
    ctx = ToolContext(
        run_id="r",
        idempotency_key="r:1",
        workspace=tmp_path,
        call_id="c",
        secrets={"pets_token": SECRET},
    )
    prepared = executor.prepare(
        ToolRegistry(toolset.tools), ToolCall(id="c", name=name, arguments=args)
    )
    return await executor.execute(prepared, ctx)


async def test_imported_operations_call_the_server(tmp_path: Path, pets: PetServer) -> None:
    toolset = load_openapi_tools(
        write_doc(tmp_path, petstore()),
        base_url=pets.url,
        allow=["127.0.0.1"],
        headers={"Authorization": "Bearer {secret:pets_token}"},
    )
    async with toolset:
        listed = await call_tool(toolset, tmp_path, "listPets", tag="dog", limit=5)
        shown = await call_tool(toolset, tmp_path, "showPetById", petId="7")
        created = await call_tool(toolset, tmp_path, "createPet", name="Bo", tag=None)
        deleted = await call_tool(toolset, tmp_path, "deletePet", petId="7")
        traced = await call_tool(toolset, tmp_path, "get_whoami", **{"X-Trace": "t-1"})
    assert listed.result["body"] == [{"id": 1, "name": "Rex", "tag": "dog"}]
    assert shown.result["body"]["name"] == "Tom"
    assert created.result == {"status": 201, "body": {"id": 99, "name": "Bo"}}
    assert deleted.ok and deleted.result == {"status": 204, "body": ""}
    assert traced.result["body"] == {"authorization": "Bearer [REDACTED:secret]"}
    received = [(r.method, r.path) for r in pets.requests]
    assert received == [
        ("GET", "/pets"),
        ("GET", "/pets/7"),
        ("POST", "/pets"),
        ("DELETE", "/pets/7"),
        ("GET", "/whoami"),
    ]
    assert pets.requests[0].query == {"tag": ["dog"], "limit": ["5"]}
    assert pets.requests[2].body == {"name": "Bo"}
    assert pets.requests[4].headers["x-trace"] == "t-1"
    assert pets.requests[1].headers["authorization"] == f"Bearer {SECRET}"


def agent_file(tmp_path: Path, server: PetServer) -> Path:
    write_doc(tmp_path, petstore(f"{server.url}"), "petstore.json")
    path = tmp_path / "pets-agent.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "pets",
                "model": "scripted",
                "openapi": [
                    {
                        "path": "petstore.json",
                        "allow": ["127.0.0.1"],
                        "operations": ["listPets", "showPetById"],
                    }
                ],
            }
        )
    )
    return path


async def test_an_agent_run_calls_an_imported_operation(tmp_path: Path, pets: PetServer) -> None:
    model = scripted(call("showPetById", petId="1"), answer("Pet 1 is Rex."))
    rt = make_runtime(tmp_path, model)
    result = await rt.run(agent_file(tmp_path, pets), "Who is pet 1?")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED and result.output == "Pet 1 is Rex."
    events = rt.store.journal.read(result.run_id)
    assert events[0].payload.tools == ["listPets", "showPetById"]  # type: ignore[union-attr]
    (finished,) = [e.payload for e in events if e.kind == "tool_call_finished"]
    assert finished.result["body"]["name"] == "Rex"  # type: ignore[union-attr]
    assert [r.path for r in pets.requests] == ["/pets/1"]
    rt.close()


def test_tools_list_shows_imported_operations(tmp_path: Path, pets: PetServer) -> None:
    from tests.test_cli import tether

    listed = tether(tmp_path, "tools", "list", "--agent", str(agent_file(tmp_path, pets)), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["side_effect"]) for r in rows] == [
        ("listPets", "read"),
        ("showPetById", "read"),
    ]


def test_side_effects_can_be_overridden_per_operation() -> None:
    spec = openapi_tool_file(petstore(), side_effects={"showPetById": "write", "putTree": "read"})
    tiers = {t.name: t.tier for t in spec.tools}
    assert tiers["showPetById"] == "write" and tiers["putTree"] == "read"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"openapi": "2.0"}, "only OpenAPI 3.0 and 3.1"),
        ({"servers": [{"url": "/v1"}]}, "pass base_url"),
        ({"paths": {}}, "'paths'"),
        (
            {"paths": {"/x": {"get": {"parameters": [{"$ref": "other.yaml#/P"}]}}}},
            "points outside the document",
        ),
        (
            {"paths": {"/x": {"get": {"parameters": [{"$ref": "#/components/nothing"}]}}}},
            "names nothing",
        ),
    ],
)
def test_bad_documents_name_the_file_and_the_problem(
    tmp_path: Path, change: dict[str, Any], needle: str
) -> None:
    path = write_doc(tmp_path, petstore() | change)
    with pytest.raises(ConfigError) as info:
        load_openapi_tools(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_unknown_operations_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="listPetz"):
        load_openapi_tools(write_doc(tmp_path, petstore()), operations=["listPetz"])
