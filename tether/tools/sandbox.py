"""Sandboxed Python execution with bubblewrap, as an unprivileged user (DESIGN §2.5).

The launch chain is ``prlimit`` (rlimits) → ``setpriv`` (drop to a non-root uid, no groups, no
capabilities, ``no_new_privs``) → ``bwrap`` (fresh namespaces of every kind, no network, read-only
system binds, size-capped tmpfs ``/work`` and ``/tmp``, empty environment) → the machine's Python
run isolated (``-I -S``), reading the code from stdin. Root is never the sandbox user: bwrap run
as root with uid 0 inside can remount ``/usr`` read-write.

The interpreter is ``sys.executable``'s real path when the sandbox user can reach its
installation (bound read-only at the same path); a Python installed under a private home (pyenv in
``/root``) cannot be reached, so the system Python of the same minor version is used instead.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from tether.errors import ConfigError
from tether.tools.contract import RetryPolicy
from tether.tools.decorator import tool

# A uid of the sandbox's own: not nobody (65534), whose processes (a database server, daemons)
# would count against the sandbox's process limit, which is per uid and host-wide.
SANDBOX_UID = 61_873
MAX_CODE_CHARS = 100_000
_INSTALL_HINT = "install it with 'apt-get install bubblewrap' (the Debian/Ubuntu package)"
_HELPERS = ("bwrap", "setpriv", "prlimit")
_SYSTEM_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """Limits of one sandboxed run. ``nproc`` counts every process of ``uid`` on the host."""

    uid: int = SANDBOX_UID
    gid: int = SANDBOX_UID
    cpu_s: int = 5
    memory_mb: int = 256
    file_mb: int = 16
    nproc: int = 32
    timeout_s: float = 10.0
    max_output: int = 64 * 1024
    tmpfs_mb: int = 64
    python: str | None = None

    def __post_init__(self) -> None:
        if self.uid == 0 or self.gid == 0:
            raise ConfigError(
                f"SandboxConfig uid={self.uid!r} gid={self.gid!r}: root is never the sandbox "
                "user (bwrap with uid 0 inside can be escaped); use an unprivileged id such "
                f"as {SANDBOX_UID} (the default)"
            )
        limits = {
            "cpu_s": self.cpu_s,
            "memory_mb": self.memory_mb,
            "file_mb": self.file_mb,
            "nproc": self.nproc,
            "timeout_s": self.timeout_s,
            "max_output": self.max_output,
            "tmpfs_mb": self.tmpfs_mb,
        }
        bad = {name: value for name, value in limits.items() if value <= 0}
        if bad:
            raise ConfigError(f"SandboxConfig limits must be positive, got {bad!r}")


@dataclass(frozen=True, kw_only=True)
class SandboxResult:
    """What a sandboxed run printed and how it ended."""

    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool
    truncated: bool
    duration_ms: float


def bwrap_available() -> bool:
    """Whether bubblewrap and the util-linux helpers it is launched with are installed."""
    return all(shutil.which(name) for name in _HELPERS)


def _require_tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in _HELPERS}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        raise ConfigError(f"the code sandbox needs {missing!r}, not found on PATH; {_INSTALL_HINT}")
    return {name: path for name, path in found.items() if path is not None}


def _reachable_by_others(path: Path) -> bool:
    """Whether a user with no special ids can traverse to ``path`` and read it."""
    for part in [path, *path.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


def _interpreter(config: SandboxConfig) -> tuple[str, list[str]]:
    """The interpreter to run and the extra directories to bind read-only for it."""
    if config.python is not None:
        chosen = Path(config.python).resolve()
        return str(chosen), [] if chosen.is_relative_to("/usr") else [str(chosen.parents[1])]
    real = Path(sys.executable).resolve()
    prefix = Path(sys.base_prefix).resolve()
    if real.is_relative_to(prefix) and _reachable_by_others(real) and _reachable_by_others(prefix):
        return str(real), [] if prefix.is_relative_to("/usr") else [str(prefix)]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path("/usr/bin") / version, Path("/usr/local/bin") / version):
        if candidate.exists() and _reachable_by_others(candidate.resolve()):
            return str(candidate.resolve()), []
    raise ConfigError(
        f"the code sandbox cannot reach a Python: {str(real)!r} lies in a directory the sandbox "
        f"user cannot read, and no /usr/bin/{version} exists; install it ('apt-get install "
        f"{version}') or set SandboxConfig.python to an interpreter readable by uid {config.uid}"
    )


def build_command(config: SandboxConfig) -> list[str]:
    """The full launch command; the code is fed on stdin, never on the command line."""
    tools = _require_tools()
    python, extra_binds = _interpreter(config)
    mib = 1024 * 1024
    rlimits = [
        tools["prlimit"],
        f"--cpu={config.cpu_s}",
        f"--as={config.memory_mb * mib}",
        f"--fsize={config.file_mb * mib}",
        f"--nproc={config.nproc}",
        "--core=0",
        "--",
    ]
    drop = [
        tools["setpriv"],
        f"--reuid={config.uid}",
        f"--regid={config.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]
    bwrap = [
        tools["bwrap"],
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--as-pid-1",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    bwrap += _system_links()
    for directory in extra_binds:
        bwrap += ["--ro-bind", directory, directory]
    tmpfs_bytes = str(config.tmpfs_mb * mib)
    bwrap += ["--proc", "/proc", "--dev", "/dev"]
    bwrap += ["--size", tmpfs_bytes, "--tmpfs", "/tmp", "--size", tmpfs_bytes, "--tmpfs", "/work"]
    bwrap += [
        "--remount-ro",
        "/",
        "--chdir",
        "/work",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
    ]
    bwrap += ["--setenv", "HOME", "/work", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    return [*rlimits, *drop, *bwrap, python, "-I", "-S", "-"]


def _system_links() -> list[str]:
    """/bin, /lib and friends: symlinks into /usr where the host has them, else read-only binds."""
    args: list[str] = []
    for name in _SYSTEM_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def run_python(code: str, config: SandboxConfig | None = None) -> SandboxResult:
    """Run ``code`` in the sandbox and return what it printed, within the config's limits."""
    config = config or SandboxConfig()
    command = build_command(config)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
        start_new_session=True,
        close_fds=True,
    )
    try:
        _feed(process, code)
        collected = _collect(process, started + config.timeout_s, config.max_output)
    finally:
        _kill_group(process)
    out, err, truncated, timed_out = collected
    return SandboxResult(
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        exit_code=process.returncode,
        timed_out=timed_out,
        truncated=truncated,
        duration_ms=(time.monotonic() - started) * 1000,
    )


def _feed(process: subprocess.Popen[bytes], code: str) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(code.encode())
        process.stdin.close()
    except BrokenPipeError:  # the launcher failed before reading; its stderr says why
        pass


def _collect(
    process: subprocess.Popen[bytes], deadline: float, max_output: int
) -> tuple[bytes, bytes, bool, bool]:
    """Read both pipes until EOF or the deadline, keeping at most ``max_output`` bytes of each."""
    assert process.stdout is not None and process.stderr is not None
    buffers = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}
    truncated = timed_out = False
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                buffer = buffers[key.fd]
                room = max_output - len(buffer)
                truncated = truncated or len(chunk) > room
                buffer += chunk[: max(room, 0)]
    if timed_out:
        _kill_group(process)
    try:
        process.wait(timeout=max(deadline - time.monotonic(), 0) + 1)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(process)
        process.wait()
    out, err = buffers.values()
    return bytes(out), bytes(err), truncated, timed_out


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the launcher's process group; bwrap's pid namespace takes the sandbox down with it."""
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None and not stream.closed:
            stream.close()


@tool(side_effect="read", timeout_ms=15_000, retry=RetryPolicy(max_attempts=1))
def run_python_code(
    code: Annotated[str, Field(min_length=1, max_length=MAX_CODE_CHARS)],
) -> dict[str, Any]:
    """Run a Python 3 program in an isolated sandbox and return what it printed.
    Use it to compute, transform data or check code. There is no network, no access to the
    host's files, only the standard library; /work and /tmp are small scratch folders that are
    discarded afterwards. Print the results you need.

    Args:
        code: The complete Python program; its output is what it prints to stdout and stderr.
    """
    # side_effect "read": the code cannot touch anything outside its own throwaway sandbox.
    result = run_python(code)
    return {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "truncated": result.truncated,
    }
