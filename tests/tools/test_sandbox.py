"""The code sandbox: it runs Python, and every escape attempt stays inside (DESIGN §2.5).

These tests run the real bubblewrap; if it is missing they install it, and fail if they cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.tools import sandbox
from tether.tools.sandbox import SandboxConfig, SandboxResult, bwrap_available, run_python

SLACK_S = 5.0
# A uid of its own per test process: RLIMIT_NPROC and the leftover check count per uid, so
# parallel runs (other sessions, other workers) cannot disturb these tests.
UID = 200_000 + os.getpid() % 100_000
BASE = SandboxConfig(uid=UID, gid=UID)


@pytest.fixture(scope="module", autouse=True)
def _bubblewrap() -> None:
    if not bwrap_available():
        install = ["apt-get", "install", "-y", "bubblewrap"]
        if subprocess.run(install, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, check=False)
            subprocess.run(install, capture_output=True, check=False)
    assert bwrap_available(), "bubblewrap is missing and 'apt-get install bubblewrap' failed"


def run(code: str, config: SandboxConfig | None = None) -> SandboxResult:
    config = config or BASE
    result = run_python(textwrap.dedent(code), config)
    assert result.duration_ms < (config.timeout_s + SLACK_S) * 1000
    return result


def run_json(code: str) -> object:
    result = run(code)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def sandbox_processes_on_host(uid: int = UID) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # zombies are dead: the host's init reaps the reparented ones a moment later
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if entry.stat().st_uid == uid and state != "Z":
                    pids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return pids


def test_prints_and_imports_the_standard_library() -> None:
    result = run("import json\nprint(1)\nprint(json.dumps({'a': [1, 2]}))")
    assert result == SandboxResult(
        stdout='1\n{"a": [1, 2]}\n',
        stderr="",
        exit_code=0,
        timed_out=False,
        truncated=False,
        duration_ms=result.duration_ms,
    )


def test_errors_come_back_on_stderr_with_the_exit_code() -> None:
    result = run("import sys\nprint('bad', file=sys.stderr)\nraise SystemExit(3)")
    assert (result.stdout, result.stderr, result.exit_code) == ("", "bad\n", 3)


def test_runs_as_an_unprivileged_user_without_capabilities() -> None:
    seen = run_json(
        """
        import json, os, subprocess
        lines = open("/proc/self/status").read().splitlines()
        status = dict(line.split(":\\t", 1) for line in lines)
        id_u = subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip()
        print(json.dumps({"ids": sorted(set(os.getresuid() + os.getresgid())), "id_u": id_u,
                          "groups": os.getgroups(), "cap_eff": status["CapEff"].strip(),
                          "cap_bnd": status["CapBnd"].strip(),
                          "nnp": status["NoNewPrivs"].strip()}))
        """
    )
    assert seen == {
        "ids": [UID],
        "id_u": str(UID),
        "groups": [],
        "cap_eff": "0000000000000000",
        "cap_bnd": "0000000000000000",
        "nnp": "1",
    }


def test_root_is_refused_as_the_sandbox_user() -> None:
    with pytest.raises(ConfigError, match="root is never the sandbox user"):
        SandboxConfig(uid=0)
    with pytest.raises(ConfigError, match="root is never the sandbox user"):
        SandboxConfig(gid=0)


def test_code_goes_through_stdin_not_the_command_line() -> None:
    command = sandbox.build_command(SandboxConfig())
    assert command[-3:] == ["-I", "-S", "-"]
    assert "--reuid=61873" in command and "--cap-drop" in command


def test_only_loopback_exists_and_the_host_is_unreachable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.5)
        port = server.getsockname()[1]
        seen = run_json(
            f"""
            import json, os, socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                outcome = "connected"
            except OSError as exc:
                outcome = type(exc).__name__
            print(json.dumps({{"interfaces": [name for _, name in socket.if_nameindex()],
                              "sys_net": os.path.exists("/sys/class/net"), "connect": outcome}}))
            """
        )
        with pytest.raises(TimeoutError):
            server.accept()
    assert seen == {"interfaces": ["lo"], "sys_net": False, "connect": "ConnectionRefusedError"}


def test_writes_outside_work_and_tmp_fail() -> None:
    seen = run_json(
        """
        import json
        outcome = {}
        for path in ["/usr/evil", "/usr/lib/evil", "/bin/evil", "/evil", "/proc/evil",
                     "/work/ok", "/tmp/ok"]:
            try:
                with open(path, "w") as handle:
                    handle.write("x")
                outcome[path] = "written"
            except OSError as exc:
                outcome[path] = type(exc).__name__
        print(json.dumps(outcome))
        """
    )
    assert isinstance(seen, dict)
    assert seen.pop("/work/ok") == seen.pop("/tmp/ok") == "written"
    assert "written" not in seen.values(), seen
    assert not Path("/usr/evil").exists() and not Path("/evil").exists()


def test_host_secrets_files_and_home_are_invisible(tmp_path: Path) -> None:
    assert Path("/etc/shadow").exists()
    planted = tmp_path / "planted.txt"
    planted.write_text("host file")
    seen = run_json(
        f"""
        import json, os
        def attempt(path):
            try:
                with open(path) as handle:
                    return "read:" + handle.read(20)
            except OSError as exc:
                return type(exc).__name__
        print(json.dumps({{"shadow": attempt("/etc/shadow"), "passwd": attempt("/etc/passwd"),
                          "planted": attempt({str(planted)!r}), "root": os.path.exists("/root"),
                          "home": os.path.exists({str(Path.home())!r}),
                          "top": sorted(os.listdir("/"))}}))
        """
    )
    assert seen == {
        "shadow": "FileNotFoundError",
        "passwd": "FileNotFoundError",
        "planted": "FileNotFoundError",
        "root": False,
        "home": False,
        "top": ["bin", "dev", "lib", "lib64", "proc", "sbin", "tmp", "usr", "work"],
    }


def test_a_secret_in_the_parent_environment_does_not_reach_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s3cr3t-" + os.urandom(8).hex()
    monkeypatch.setenv("TETHER_SECRET_PLANT", secret)
    result = run(
        """
        import glob, os
        print(dict(os.environ))
        for path in glob.glob("/proc/*/environ"):
            try:
                print(open(path, "rb").read())
            except OSError as exc:
                print(path, exc)
        """
    )
    assert result.exit_code == 0, result.stderr
    assert "PATH" in result.stdout
    assert secret not in result.stdout and "TETHER_SECRET_PLANT" not in result.stdout


def test_remounting_usr_read_write_fails() -> None:
    seen = run_json(
        """
        import ctypes, json, os, subprocess
        cli = subprocess.run(["mount", "-o", "remount,rw", "/usr"], capture_output=True)
        libc = ctypes.CDLL(None, use_errno=True)
        MS_REMOUNT, MS_BIND = 32, 4096
        rc = libc.mount(None, b"/usr", None, MS_REMOUNT | MS_BIND, None)
        errno = ctypes.get_errno()
        unshare = libc.unshare(0x10000000 | 0x00020000)  # CLONE_NEWUSER | CLONE_NEWNS
        try:
            open("/usr/evil", "w").close()
            write = "written"
        except OSError as exc:
            write = type(exc).__name__
        print(json.dumps({"cli_ok": cli.returncode == 0, "syscall": rc, "eperm": errno == 1,
                          "unshare": unshare, "write": write}))
        """
    )
    assert seen == {
        "cli_ok": False,
        "syscall": -1,
        "eperm": True,
        "unshare": -1,
        "write": "OSError",
    }


def test_tiocsti_injection_fails() -> None:
    seen = run_json(
        """
        import fcntl, json, os, termios
        outcome = {}
        try:
            os.open("/dev/tty", os.O_RDWR)
            outcome["tty"] = "opened"
        except OSError as exc:
            outcome["tty"] = type(exc).__name__
        for fd in (0, 1, 2):
            try:
                fcntl.ioctl(fd, termios.TIOCSTI, b"x")
                outcome[str(fd)] = "injected"
            except OSError as exc:
                outcome[str(fd)] = type(exc).__name__
        print(json.dumps(outcome), flush=True)
        """
    )
    assert isinstance(seen, dict)
    assert seen.pop("tty") != "opened"
    assert set(seen.values()) == {"OSError"}, seen


def test_process_count_is_capped() -> None:
    seen = run_json(
        """
        import json, os, time
        children, refused = 0, None
        for _ in range(200):
            try:
                pid = os.fork()
            except OSError as exc:
                refused = type(exc).__name__
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            children += 1
        print(json.dumps({"children": children, "refused": refused}), flush=True)
        os._exit(0)
        """
    )
    assert isinstance(seen, dict)
    assert seen["refused"] == "BlockingIOError"
    assert 0 < seen["children"] < BASE.nproc


def test_fork_bomb_is_contained_and_leaves_nothing_behind() -> None:
    config = replace(BASE, timeout_s=3)
    result = run(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        config,
    )
    assert result.exit_code != 0
    deadline = time.monotonic() + 2
    while sandbox_processes_on_host() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes_on_host() == []


def test_memory_bomb_is_contained() -> None:
    result = run("chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))")
    assert result.exit_code != 0
    assert "MemoryError" in result.stderr
    huge = run("bytearray(1024 ** 3)")
    assert "MemoryError" in huge.stderr


def test_file_size_and_scratch_space_are_capped() -> None:
    seen = run_json(
        """
        import json, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            with open("/tmp/big", "wb") as handle:
                handle.write(b"x" * (32 * 1024 * 1024))
            outcome = "written"
        except OSError as exc:
            outcome = type(exc).__name__
        print(json.dumps({"big_file": outcome}))
        """
    )
    assert seen == {"big_file": "OSError"}


def test_infinite_loop_is_killed_by_the_wall_clock_timeout() -> None:
    result = run("while True:\n    pass", replace(BASE, timeout_s=1.5, cpu_s=60))
    assert result.timed_out
    assert result.exit_code != 0
    assert 1400 <= result.duration_ms < 1500 + SLACK_S * 1000


def test_sleeping_code_is_killed_by_the_wall_clock_timeout() -> None:
    result = run(
        "import time\nprint('start', flush=True)\ntime.sleep(60)", replace(BASE, timeout_s=1)
    )
    assert result.timed_out and result.stdout == "start\n"


def test_infinite_loop_is_killed_by_the_cpu_limit() -> None:
    result = run("while True:\n    pass", replace(BASE, cpu_s=1, timeout_s=20))
    assert not result.timed_out  # the CPU limit stopped it, well before the 20 s wall clock
    assert result.exit_code != 0


def test_huge_output_is_truncated() -> None:
    config = replace(BASE, max_output=1000)
    result = run(
        "import sys\nsys.stdout.write('o' * 10 ** 7)\nsys.stderr.write('e' * 10 ** 7)", config
    )
    assert result.truncated and result.exit_code == 0
    assert result.stdout == "o" * 1000 and result.stderr == "e" * 1000


def test_missing_bubblewrap_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which

    def which(name: str) -> str | None:
        return None if name == "bwrap" else real_which(name)

    monkeypatch.setattr(sandbox.shutil, "which", which)
    assert not bwrap_available()
    with pytest.raises(ConfigError, match="apt-get install bubblewrap"):
        run_python("print(1)", BASE)


def test_the_tool_returns_a_structured_result() -> None:
    contract = sandbox.run_python_code.contract
    assert contract.name == "run_python_code"
    assert contract.side_effect == "read"
    assert contract.input_schema["required"] == ["code"]
    assert sandbox.run_python_code.fn(code="print(6 * 7)") == {
        "stdout": "42\n",
        "stderr": "",
        "exit_code": 0,
        "timed_out": False,
        "truncated": False,
    }


@pytest.fixture(autouse=True)
def _no_leftover_sandbox_processes() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 2
    while sandbox_processes_on_host() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes_on_host() == []
