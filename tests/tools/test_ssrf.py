"""The SSRF guard: pure decisions, then the transport, which must refuse before connecting.

No test sends traffic anywhere but 127.0.0.1: other names resolve through a fake resolver, and
the recording transport refuses (and records) any attempt to reach another address.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.tools.http_server import PetServer, pet_server
from tests.tools.tls import certificate, client_context, server_context
from tether.errors import ConfigError, EgressBlocked
from tether.tools import ToolContext, ToolExecutor, ToolRegistry
from tether.tools.http import (
    AllowList,
    GuardedTransport,
    HttpToolset,
    blocked_reason,
    check,
    load_http_tools,
    parse_ip_literal,
)
from tether.tools.http.ssrf import IPAddress
from tether.types import ToolCall

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "0.0.0.0": "unspecified",
    "224.0.0.1": "multicast",
    "255.255.255.255": "reserved",
    "::1": "loopback",
    "[::1]": "loopback",
    "::": "unspecified",
    "fc00::1": "unique local",
    "fd12:3456::1": "unique local",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "loopback address 127.0.0.1 inside IPv6",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:10.0.0.1": "private",
    "2002:a00:1::": "private address 10.0.0.1 inside IPv6",  # 6to4
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
    "2130706433": "loopback",  # decimal
    "0177.0.0.1": "loopback",  # octal
    "0x7f.0.0.1": "loopback",  # hex
    "0x7f000001": "loopback",
    "017700000001": "loopback",
    "127.1": "loopback",  # short form
    "3232235777": "private",  # 192.168.1.1
    "0251.0376.0251.0376": "link-local",  # 169.254.169.254 in octal
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("host", "why"), sorted(BLOCKED.items()))
def test_blocked_addresses_in_every_spelling(host: str, why: str) -> None:
    address = parse_ip_literal(host)
    assert address is not None, host
    reason = blocked_reason(address)
    assert reason is not None and why in reason, (host, reason)
    verdict = check(host, [address], AllowList())
    assert not verdict.allowed and verdict.reason == reason


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_pass(host: str) -> None:
    address = parse_ip_literal(host)
    assert address is not None and blocked_reason(address) is None
    assert check(host, [address], AllowList()).allowed


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "256.1.1.1", "09.1.1.1", "a::b::c"])
def test_names_and_invalid_literals_are_not_addresses(host: str) -> None:
    assert parse_ip_literal(host) is None


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def test_every_resolved_address_must_pass() -> None:
    verdict = check("mixed.test", [ip("8.8.8.8"), ip("10.0.0.1")], AllowList())
    assert not verdict.allowed and verdict.address == ip("10.0.0.1")
    assert "'mixed.test (10.0.0.1)'" in verdict.message()
    assert not check("nothing.test", [], AllowList()).allowed


def test_allow_list_by_host_address_network_and_wildcard() -> None:
    allow = AllowList.parse(["127.0.0.1", "10.0.0.0/8", "API.internal", "*.corp.test", "[::1]"])
    assert check("anything", [ip("127.0.0.1")], allow).allowed
    assert not check("anything", [ip("127.0.0.2")], allow).allowed
    assert check("db", [ip("10.9.8.7")], allow).allowed
    assert check("api.internal", [ip("192.168.0.5")], allow).allowed
    assert check("a.b.corp.test", [ip("192.168.0.5")], allow).allowed
    assert not check("corp.test.evil", [ip("192.168.0.5")], allow).allowed
    assert check("six", [ip("::1")], allow).allowed
    # an allowed IPv4 address does not open its IPv4-mapped IPv6 form
    assert not check("six", [ip("::ffff:127.0.0.2")], allow).allowed


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "", "http://x", "a b"])
def test_bad_allow_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"tools\.yaml: allow"):
        AllowList.parse([entry], source="tools.yaml: allow")


def test_the_refusal_says_how_to_allow_list() -> None:
    message = check("169.254.169.254", [ip("169.254.169.254")], AllowList()).message()
    assert "link-local (cloud metadata) address" in message
    assert "TETHER_HTTP_ALLOW" in message and "'allow:'" in message


class Recorder:
    """Inner transports that record every connection attempt and reach only 127.0.0.1."""

    def __init__(self, unreachable: frozenset[str] = frozenset()) -> None:
        self.attempts: list[str] = []
        self.unreachable = unreachable  # addresses whose connection "fails" (simulated)

    def factory(self) -> httpx.AsyncBaseTransport:
        return _Recording(self)


class _Recording(httpx.AsyncBaseTransport):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.inner = httpx.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.recorder.attempts.append(f"{request.url.host}|{request.headers['host']}")
        if request.url.host in self.recorder.unreachable:
            raise httpx.ConnectError("simulated: connection refused", request=request)
        if request.url.host != "127.0.0.1":
            raise AssertionError(f"the guard let a request through to {request.url}")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def fake_resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ip(a) for a in table[host]]

    return resolve


NAMES = {
    "internal.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["8.8.8.8", "192.168.0.1"],
    "six.test": ["fd00::1"],
    "pets.test": ["127.0.0.1"],
}
REFUSED_URLS = [
    "http://127.0.0.1/",
    "http://10.0.0.1/",
    "http://172.16.5.5/",
    "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://localhost/",  # resolves (from /etc/hosts) to loopback
    "http://internal.test/",
    "http://metadata.test/",
    "http://mixed.test/",
    "http://six.test/",
    "https://pets.test/",
    "ftp://example.test/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_the_transport_refuses_before_connecting(url: str) -> None:
    recorder = Recorder()
    table = dict(NAMES)

    async def resolve(host: str, port: int) -> list[IPAddress]:
        if host == "localhost":
            from tether.tools.http.transport import resolve as real

            return await real(host, port)
        return [ip(a) for a in table[host]]

    transport = GuardedTransport(AllowList(), resolver=resolve, transport_factory=recorder.factory)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(EgressBlocked) as info:
            await client.get(url)
    assert recorder.attempts == []
    assert info.value.detail["host"] == httpx.URL(url).host


async def test_a_name_is_pinned_to_its_checked_address(pets: PetServer) -> None:
    recorder = Recorder()
    port = httpx.URL(pets.url).port
    transport = GuardedTransport(
        AllowList.parse(["pets.test"]),
        resolver=fake_resolver(NAMES),
        transport_factory=recorder.factory,
    )
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://pets.test:{port}/pets/1")
    assert response.json()["name"] == "Rex"
    # connected to the address that was checked, with the name in the Host header
    assert recorder.attempts == [f"127.0.0.1|pets.test:{port}"]
    assert pets.requests[0].headers["host"] == f"pets.test:{port}"


async def test_the_next_checked_address_is_tried_when_connecting_fails(pets: PetServer) -> None:
    recorder = Recorder(unreachable=frozenset({"::1"}))
    port = httpx.URL(pets.url).port
    transport = GuardedTransport(
        AllowList.parse(["pets.test"]),
        resolver=fake_resolver({"pets.test": ["::1", "127.0.0.1"]}),
        transport_factory=recorder.factory,
    )
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://pets.test:{port}/pets/7")
    assert response.json()["name"] == "Tom"
    assert recorder.attempts == [f"::1|pets.test:{port}", f"127.0.0.1|pets.test:{port}"]


def tool_file(tmp_path: Path, url: str, allow: list[str], recorder: Recorder) -> HttpToolset:
    path = tmp_path / "t.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "allow": allow,
                "tools": [
                    {
                        "name": "fetch",
                        "description": "Fetch.",
                        "url": url,
                        "query": ["to"],
                        "input_schema": {"properties": {"to": {"type": "string"}}},
                    }
                ],
            }
        )
    )
    return load_http_tools(path, transport_factory=recorder.factory)


async def fetch(toolset: HttpToolset, tmp_path: Path, **args: Any) -> Any:
    executor = ToolExecutor()
    ctx = ToolContext(run_id="r", idempotency_key="k", workspace=tmp_path, call_id="c")
    call = ToolCall(id="c", name="fetch", arguments=args)
    return await executor.execute(executor.prepare(ToolRegistry(toolset.tools), call), ctx)


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:9/x"],
)
async def test_a_redirect_to_a_blocked_address_is_refused(
    tmp_path: Path, pets: PetServer, target: str
) -> None:
    recorder = Recorder()
    toolset = tool_file(tmp_path, f"{pets.url}/redirect", ["127.0.0.1"], recorder)
    outcome = await fetch(toolset, tmp_path, to=target)
    assert not outcome.ok and outcome.error["code"] == "egress_blocked"
    assert outcome.error["host"] == httpx.URL(target).host
    # the allow-listed server was reached once; the redirect target never
    assert recorder.attempts == [f"127.0.0.1|127.0.0.1:{httpx.URL(pets.url).port}"]
    assert [r.path for r in pets.requests] == ["/redirect"]


async def test_a_blocked_tool_call_is_a_structured_result(tmp_path: Path) -> None:
    recorder = Recorder()
    toolset = tool_file(tmp_path, "http://169.254.169.254/latest/meta-data/", [], recorder)
    outcome = await fetch(toolset, tmp_path)
    assert not outcome.ok and outcome.attempts == 1  # not retried
    assert outcome.error["code"] == "egress_blocked"
    assert outcome.error["host"] == "169.254.169.254"
    assert "allow-list it" in outcome.error["message"]
    assert recorder.attempts == []


@pytest.mark.parametrize(
    "value", ["127.0.0.1, 10.0.0.0/8 ,api.internal", '["127.0.0.1", "10.0.0.0/8", "api.internal"]']
)
def test_tether_http_allow_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from tether.settings import load_settings

    monkeypatch.setenv("TETHER_HTTP_ALLOW", value)
    allow = load_settings().http_allow
    assert allow == ["127.0.0.1", "10.0.0.0/8", "api.internal"]
    assert check("db", [ip("10.1.1.1")], AllowList.parse(allow)).allowed


async def test_https_to_a_pinned_address_keeps_the_server_name(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path, "pets.test")
    seen: list[str | None] = []
    client_tls = client_context(cert)
    with pet_server(tls=server_context(cert, key, seen)) as server:
        port = httpx.URL(server.url).port
        transport = GuardedTransport(
            AllowList.parse(["pets.test", "127.0.0.1"]),
            resolver=fake_resolver(NAMES),
            transport_factory=lambda: httpx.AsyncHTTPTransport(verify=client_tls),
        )
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(f"https://pets.test:{port}/pets/1")
            assert response.json()["name"] == "Rex"
            # the certificate names pets.test, not the address: verification used the name
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://127.0.0.1:{port}/pets/1")
    assert seen[0] == "pets.test"  # SNI: the host name, while the socket went to 127.0.0.1
    assert server.requests[0].headers["host"] == f"pets.test:{port}"
