"""Declarative HTTP tools against a real server on 127.0.0.1: requests, secrets, errors,
limits, redirects and runs through the Runtime."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.agent_helpers import agent, make_runtime, scripted
from tests.tools.http_server import PetServer, pet_server
from tether import Agent, load_agent
from tether.errors import AgentSpecError, ConfigError, ToolArgumentError
from tether.secrets import SecretSource
from tether.testing import answer, call
from tether.tools import RetryPolicy, Tool, ToolContext, ToolExecutor, ToolRegistry
from tether.tools.http import HttpToolset, load_http_tools
from tether.types import RunStatus, ToolCall

SECRET = "pets-token-0123456789abcdef"
TOOLS: dict[str, Any] = {
    "allow": ["127.0.0.1"],
    "headers": {"Authorization": "Bearer {secret:pets_token}"},
    "tools": [
        {
            "name": "get_pet",
            "description": "Look up a pet by its id.",
            "url": "/pets/{pet_id}",
            "input_schema": {
                "type": "object",
                "properties": {"pet_id": {"type": "string", "maxLength": 20}},
                "required": ["pet_id"],
            },
        },
        {
            "name": "list_pets",
            "description": "List pets, optionally by tag.",
            "url": "/pets",
            "input_schema": {
                "type": "object",
                "properties": {
                    "tag": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1},
                },
            },
        },
        {
            "name": "create_pet",
            "description": "Add a pet.",
            "method": "post",
            "url": "/pets",
            "input_schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "tag": {"type": "string"}},
                "required": ["name"],
            },
        },
        {"name": "whoami", "description": "Echo the credentials.", "url": "/whoami"},
        {
            "name": "status",
            "description": "Answer with a status code.",
            "url": "/status/{code}",
            "max_attempts": 3,
        },
        {
            "name": "fail_write",
            "description": "A write that fails.",
            "method": "POST",
            "url": "/status/{code}",
        },
        {"name": "flaky", "description": "Fails twice, then works.", "url": "/flaky"},
        {"name": "cookie", "description": "Sets a cookie.", "url": "/cookie"},
        {"name": "big", "description": "A big response.", "url": "/big"},
        {
            "name": "slow",
            "description": "Answers after a second.",
            "url": "/slow",
            "timeout_ms": 200,
            "max_attempts": 1,
        },
        {
            "name": "hop",
            "description": "Follows a redirect.",
            "url": "/redirect",
            "query": ["to"],
            "input_schema": {
                "type": "object",
                "properties": {"to": {"type": "string"}},
                "required": ["to"],
            },
        },
    ],
}


class NoSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def write_tools(tmp_path: Path, server: PetServer, **changes: Any) -> Path:
    path = tmp_path / "pets.yaml"
    path.write_text(yaml.safe_dump({**TOOLS, "base_url": server.url, **changes}))
    return path


def context(tmp_path: Path, **secrets: str) -> ToolContext:
    return ToolContext(
        run_id="run-1",
        idempotency_key="run-1:0:0",
        workspace=tmp_path,
        secrets=secrets or {"pets_token": SECRET},
        call_id="call-1",
    )


async def run_call(
    toolset: HttpToolset,
    ctx: ToolContext,
    name: str,
    sleep: NoSleep | None = None,
    /,
    **args: Any,
) -> Any:
    executor = ToolExecutor(sleep=sleep or NoSleep())
    registry = ToolRegistry(toolset.tools)
    prepared = executor.prepare(registry, ToolCall(id="call-1", name=name, arguments=args))
    return await executor.execute(prepared, ctx)


@pytest.fixture
def toolset(tmp_path: Path, pets: PetServer) -> HttpToolset:
    return load_http_tools(write_tools(tmp_path, pets))


async def test_get_with_path_and_query_params(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    ctx = context(tmp_path)
    async with toolset:
        got = await run_call(toolset, ctx, "get_pet", pet_id="7")
        listed = await run_call(toolset, ctx, "list_pets", tag="cat", limit=1)
    assert got.ok and got.result == {"status": 200, "body": PETS_7}
    assert listed.ok and listed.result["body"] == [PETS_7]
    assert [r.path for r in pets.requests] == ["/pets/7", "/pets"]
    assert pets.requests[1].query == {"tag": ["cat"], "limit": ["1"]}
    assert pets.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert "idempotency-key" not in pets.requests[0].headers  # reads send none


PETS_7 = {"id": 7, "name": "Tom", "tag": "cat"}


async def test_path_params_are_url_encoded(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    outcome = await run_call(toolset, context(tmp_path), "get_pet", pet_id="../a b?x")
    assert pets.requests[0].path == "/pets/..%2Fa%20b%3Fx"
    assert not outcome.ok and outcome.error["status"] == 404


async def test_post_sends_the_json_body_and_an_idempotency_key(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    outcome = await run_call(toolset, context(tmp_path), "create_pet", name="Bo", tag="fish")
    assert outcome.ok and outcome.result == {
        "status": 201,
        "body": {"id": 99, "name": "Bo", "tag": "fish"},
    }
    (received,) = pets.requests
    assert (received.method, received.body) == ("POST", {"name": "Bo", "tag": "fish"})
    assert received.headers["idempotency-key"] == "run-1:0:0"
    assert received.headers["content-type"] == "application/json"
    tiers = {t.name: t.contract.side_effect for t in toolset.tools}
    assert tiers["create_pet"] == "write" and tiers["get_pet"] == "read"


async def test_an_echoed_secret_is_masked_in_the_result(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    outcome = await run_call(toolset, context(tmp_path), "whoami")
    assert pets.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert outcome.result == {"status": 200, "body": {"authorization": "Bearer [REDACTED:secret]"}}


async def test_a_missing_secret_fails_before_sending(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    outcome = await run_call(toolset, context(tmp_path, OTHER="x"), "whoami")
    assert not outcome.ok and outcome.error["missing_secret"] == "pets_token"
    assert "TETHER_SECRETS" in outcome.error["message"]
    assert pets.requests == []


async def test_http_tools_declare_their_header_secrets_and_get_only_those(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    """Through a run, a tool's ``ctx.secrets`` holds only what its contract declares
    (tether.secrets): an HTTP tool declares the secrets its headers name."""
    assert {t.contract.secrets for t in toolset.tools} == {("pets_token",)}
    source = SecretSource(static={"pets_token": SECRET, "other_read": "x"})
    scoped = replace(context(tmp_path), secrets=source.for_tool("whoami", ("pets_token",)))
    sent = await run_call(toolset, scoped, "whoami")
    assert sent.ok and pets.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    unset = replace(context(tmp_path), secrets=SecretSource().for_tool("whoami", ("pets_token",)))
    missing = await run_call(toolset, unset, "whoami")
    assert not missing.ok and missing.error["missing_secret"] == "pets_token"
    assert len(pets.requests) == 1  # nothing sent without it


async def test_404_is_a_structured_error_the_model_can_act_on(
    toolset: HttpToolset, tmp_path: Path
) -> None:
    outcome = await run_call(toolset, context(tmp_path), "get_pet", pet_id="404404")
    assert not outcome.ok and outcome.attempts == 1
    assert outcome.error["code"] == "http_status"
    assert outcome.error["status"] == 404
    assert "no pet 404404" in outcome.error["body"]
    assert "check the identifiers" in outcome.error["message"]


async def test_500_on_a_read_is_retried_then_reported(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    sleep = NoSleep()
    outcome = await run_call(toolset, context(tmp_path), "status", sleep, code="500")
    assert not outcome.ok and outcome.error["code"] == "transient"
    assert outcome.error["status"] == 500 and outcome.attempts == 3
    assert len(pets.requests) == 3 and len(sleep.delays) == 2


async def test_500_on_a_write_is_not_repeated(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    outcome = await run_call(toolset, context(tmp_path), "fail_write", code="500")
    assert not outcome.ok and outcome.error["code"] == "http_status"
    assert outcome.attempts == 1 and len(pets.requests) == 1
    assert "may or may not have happened" in outcome.error["message"]


async def test_429_is_transient_with_retry_after(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    outcome = await run_call(toolset, context(tmp_path), "status", code="429")
    assert outcome.error["code"] == "transient" and outcome.error["retry_after_s"] == 0
    assert outcome.attempts == 3 and len(pets.requests) == 3


async def test_a_flaky_read_succeeds_on_retry(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    pets.flaky_failures = 2
    outcome = await run_call(toolset, context(tmp_path), "flaky")
    assert outcome.ok and outcome.attempts == 3 and outcome.result["body"] == {"ok": True}


async def test_an_oversize_response_is_truncated_with_a_marker(
    tmp_path: Path, pets: PetServer
) -> None:
    toolset = load_http_tools(write_tools(tmp_path, pets, max_response_bytes=1024))
    outcome = await run_call(toolset, context(tmp_path), "big")
    assert outcome.ok and outcome.result["truncated"] is True
    body = outcome.result["body"]
    assert body.startswith("x" * 1024) and not body.startswith("x" * 1025)
    assert body.endswith("[truncated: the response exceeded 1024 bytes]")


async def test_a_slow_server_times_out(toolset: HttpToolset, tmp_path: Path) -> None:
    outcome = await run_call(toolset, context(tmp_path), "slow")
    assert not outcome.ok and outcome.error["code"] == "timeout"
    assert outcome.error["timeout_ms"] == 200


async def test_schema_violating_arguments_never_reach_the_server(
    toolset: HttpToolset, pets: PetServer
) -> None:
    registry = ToolRegistry(toolset.tools)
    executor = ToolExecutor()
    bad = [
        ToolCall(id="a", name="get_pet", arguments={}),
        ToolCall(id="b", name="get_pet", arguments={"pet_id": "1", "extra": "x"}),
        ToolCall(id="c", name="list_pets", arguments={"limit": 0}),
        ToolCall(id="d", name="get_pet", arguments={"pet_id": "x" * 21}),
    ]
    for c in bad:
        with pytest.raises(ToolArgumentError):
            executor.prepare(registry, c)
    assert pets.requests == []


async def test_redirects_are_followed_and_secrets_stay_at_their_origin(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    ctx = context(tmp_path)
    same = await run_call(toolset, ctx, "hop", to="/pets/1")
    assert same.ok and same.result["body"]["name"] == "Rex"
    assert pets.requests[-1].headers["authorization"] == f"Bearer {SECRET}"
    with pet_server() as other:  # another port: another origin
        away = await run_call(toolset, ctx, "hop", to=f"{other.url}/whoami")
        assert away.ok and away.result["body"] == {"authorization": ""}
        assert "authorization" not in other.requests[0].headers


async def test_too_many_redirects(tmp_path: Path, pets: PetServer) -> None:
    toolset = load_http_tools(write_tools(tmp_path, pets, max_redirects=0))
    outcome = await run_call(toolset, context(tmp_path), "hop", to="/pets/1")
    assert not outcome.ok and outcome.error["max_redirects"] == 0
    assert len(pets.requests) == 1


def test_tool_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    cases = [
        (
            {
                "tools": [
                    {
                        "name": "x",
                        "description": "d",
                        "url": "http://h/{id}",
                        "input_schema": {"type": "object", "properties": {}},
                    }
                ]
            },
            "tools.0 (x).url: placeholder {id}",
        ),
        (
            {"tools": [{"name": "x", "description": "d", "method": "FETCH", "url": "http://h"}]},
            "tools.0.method",
        ),
        ({"tools": [{"name": "x", "description": "d", "url": "/rel"}]}, "base_url"),
        (
            {
                "tools": [{"name": "x", "description": "d", "url": "http://h", "query": ["q"]}],
                "extra": 1,
            },
            "extra",
        ),
        (
            {
                "headers": {"X-Key": "{secret:API-KEY}"},
                "tools": [{"name": "x", "description": "d", "url": "http://h"}],
            },
            "secret name 'API-KEY'",
        ),
        (
            {
                "allow": ["10.0.0.0/33"],
                "tools": [{"name": "x", "description": "d", "url": "http://h"}],
            },
            "allow",
        ),
        (
            {
                "tools": [
                    {
                        "name": "x",
                        "description": "d",
                        "url": "http://h",
                        "input_schema": {"properties": {}},
                        "query": ["q"],
                    }
                ]
            },
            "query: 'q'",
        ),
    ]
    for data, needle in cases:
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError) as info:
            load_http_tools(path)
        assert str(path) in str(info.value) and needle in str(info.value), info.value


async def test_agent_run_sends_the_secret_and_never_journals_it(
    tmp_path: Path, pets: PetServer
) -> None:
    toolset = load_http_tools(write_tools(tmp_path, pets))
    model = scripted(
        call("whoami"),
        call("get_pet", pet_id="1"),
        call("get_pet", pet_id="1", color="red"),  # invalid: never sent
        answer("Rex"),
    )
    rt = make_runtime(tmp_path, model, secrets={"pets_token": SECRET})
    async with toolset:
        result = await rt.run(agent(*toolset.tools), "Who is pet 1?")
    model.assert_consumed()
    assert result.status is RunStatus.SUCCEEDED
    assert [r.path for r in pets.requests] == ["/whoami", "/pets/1"]
    assert pets.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    events = rt.store.journal.read(result.run_id)
    finished = [e.payload for e in events if e.kind == "tool_call_finished"]
    assert finished[1].result == {"status": 200, "body": {"id": 1, "name": "Rex", "tag": "dog"}}  # type: ignore[union-attr]
    assert finished[2].error["code"] == "invalid_arguments"  # type: ignore[union-attr]
    journal = json.dumps([e.to_json() for e in events])
    assert SECRET not in journal and "REDACTED" in journal
    prompts = json.dumps([str(m) for r in model.requests for m in r.messages])
    assert SECRET not in prompts
    rt.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "home").glob("tether.db*"))
    assert SECRET.encode() not in raw


async def test_an_agent_file_names_http_tools_relative_to_itself(
    tmp_path: Path, pets: PetServer
) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    write_tools(folder, pets, allow=[])  # no allow-list in the file: the agent's applies
    (folder / "pets-agent.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "pets",
                "model": "scripted",
                "tools": ["calculator"],
                "http_tools": [{"path": "pets.yaml", "allow": ["127.0.0.1"]}],
            }
        )
    )
    model = scripted(call("get_pet", pet_id="7"), answer("Tom"))
    rt = make_runtime(tmp_path, model, secrets={"pets_token": SECRET})
    result = await rt.run(folder / "pets-agent.yaml", "Who is pet 7?")
    assert result.status is RunStatus.SUCCEEDED
    assert [r.path for r in pets.requests] == ["/pets/7"]
    started = rt.store.journal.read(result.run_id)[0].payload
    assert "get_pet" in started.tools  # type: ignore[union-attr]
    # the stored spec names the file by absolute path: a worker can rebuild the run
    http_refs = started.agent_spec["http_tools"]  # type: ignore[union-attr]
    assert http_refs[0]["path"] == str((folder / "pets.yaml").resolve())
    rebuilt = rt.rebuild(result.run_id, 1, need_model=False)
    assert "get_pet" in rebuilt.registry
    rt.close()


async def test_without_an_allow_list_the_guard_blocks_loopback(
    tmp_path: Path, pets: PetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    write_tools(folder, pets, allow=[])
    monkeypatch.chdir(folder)
    a = Agent(name="pets", model="scripted", http_tools=["pets.yaml"])
    assert a.portable_spec().http_tools[0].path == str(folder.resolve() / "pets.yaml")
    model = scripted(call("get_pet", pet_id="7"), answer("blocked"))
    rt = make_runtime(tmp_path, model, secrets={"pets_token": SECRET})
    result = await rt.run(a, "Who is pet 7?")
    (finished,) = [
        e.payload for e in rt.store.journal.read(result.run_id) if e.kind == "tool_call_finished"
    ]
    assert finished.error["code"] == "egress_blocked"  # type: ignore[union-attr]
    assert "TETHER_HTTP_ALLOW" in finished.error["message"]  # type: ignore[union-attr]
    assert pets.requests == []
    rt.close()
    # the settings' allow-list (TETHER_HTTP_ALLOW) opens it
    model = scripted(call("get_pet", pet_id="7"), answer("Tom"))
    rt = make_runtime(tmp_path, model, secrets={"pets_token": SECRET}, http_allow=["127.0.0.0/8"])
    result = await rt.run(a, "Who is pet 7?")
    assert [r.path for r in pets.requests] == ["/pets/7"]
    rt.close()


def test_tools_list_shows_http_tools(tmp_path: Path, pets: PetServer) -> None:
    from tests.test_cli import tether

    write_tools(tmp_path, pets)
    (tmp_path / "a.yaml").write_text("name: a\nhttp_tools: [pets.yaml]\n")
    listed = tether(tmp_path, "tools", "list", "--agent", str(tmp_path / "a.yaml"), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["create_pet"]["side_effect"] == "write"
    assert rows["get_pet"]["input_schema"]["required"] == ["pet_id"]


def test_http_tools_are_tether_tools(toolset: HttpToolset) -> None:
    get_pet = toolset["get_pet"]
    assert isinstance(get_pet, Tool)
    assert get_pet.contract.input_schema["additionalProperties"] is False
    assert get_pet.contract.retry == RetryPolicy(max_attempts=3)
    assert toolset["whoami"].contract.input_schema == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def test_a_bad_tool_file_names_the_agent_file_too(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nhttp_tools: [missing.yaml]\nopenapi: [x.json]\n")
    with pytest.raises(AgentSpecError) as info:
        load_agent(tmp_path / "a.yaml")
    message = str(info.value)
    assert str(tmp_path / "a.yaml") in message and str(tmp_path / "missing.yaml") in message
    assert "not found" in message
    (tmp_path / "b.yaml").write_text("name: b\nhttp_tools: [{path: p.yaml, allowed: []}]\n")
    with pytest.raises(AgentSpecError, match=r"http_tools\.0\.allowed"):
        load_agent(tmp_path / "b.yaml")


async def test_cookies_do_not_carry_state_between_calls(
    toolset: HttpToolset, pets: PetServer, tmp_path: Path
) -> None:
    async with toolset:
        first = await run_call(toolset, context(tmp_path), "cookie")
        second = await run_call(toolset, context(tmp_path), "cookie")
    assert first.result["body"] == second.result["body"] == {"cookie": None}
    assert "cookie" not in pets.requests[1].headers


def test_the_agent_version_follows_tool_content_not_location(
    tmp_path: Path, pets: PetServer
) -> None:
    versions = []
    for folder in (tmp_path / "a", tmp_path / "b"):
        folder.mkdir()
        write_tools(folder, pets)
        versions.append(Agent(name="p", http_tools=[str(folder / "pets.yaml")]).version)
    assert versions[0] == versions[1]
    write_tools(tmp_path / "b", pets, max_response_bytes=2048)
    changed = Agent(name="p", http_tools=[str(tmp_path / "b" / "pets.yaml")]).version
    assert changed != versions[0]
