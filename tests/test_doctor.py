"""`tether doctor` reports what works and what to fix, and never prints a key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def doctor(tmp_path: Path, **env: str) -> tuple[int, dict[str, dict[str, object]]]:
    out = subprocess.run(
        [sys.executable, "-m", "tether.cli", "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ | {"TETHER_HOME": str(tmp_path / "home")} | env,
    )
    assert "sk-doctor-secret" not in out.stdout + out.stderr
    return out.returncode, {c["check"]: c for c in json.loads(out.stdout)}


def test_healthy_environment(tmp_path: Path) -> None:
    code, checks = doctor(tmp_path, TETHER_OPENAI_API_KEY="sk-doctor-secret-123456789")
    assert code == 0
    assert checks["model file"]["ok"] and checks["llama.cpp"]["ok"]
    assert checks["database"]["ok"] and "journal wal" in str(checks["database"]["detail"])
    assert checks["openai key"]["detail"] == "set"
    assert checks["anthropic key"]["detail"] == "not set"
    assert checks["policies"]["ok"] and "packs only" in str(checks["policies"]["detail"])


def test_a_broken_policy_file_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "bad.cedar").write_text("permit (principal, action, resource")
    code, checks = doctor(tmp_path, TETHER_POLICIES=str(tmp_path / "policies"))
    assert code == 1
    assert not checks["policies"]["ok"] and "bad.cedar" in str(checks["policies"]["detail"])


def test_broken_model_path_fails_with_a_fix(tmp_path: Path) -> None:
    code, checks = doctor(tmp_path, TETHER_MODEL_PATH=str(tmp_path / "missing.gguf"))
    assert code == 1
    assert not checks["model file"]["ok"]
    assert "TETHER_MODEL_PATH" in str(checks["model file"]["fix"])


def test_unreachable_database_fails_on_one_line(tmp_path: Path) -> None:
    code, checks = doctor(tmp_path, TETHER_DB="postgresql://u:pw@127.0.0.1:1/x")
    assert code == 1
    detail = str(checks["database"]["detail"])
    assert "\n" not in detail and "pw" not in detail


def test_keys_can_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-doctor-secret-from-file\n")
    out = subprocess.run(
        [sys.executable, "-m", "tether.cli", "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if "API_KEY" not in k}
        | {"TETHER_HOME": str(tmp_path / "home")},
    )
    checks = {c["check"]: c for c in json.loads(out.stdout)}
    assert checks["anthropic key"]["detail"] == "set"
    assert "sk-doctor-secret" not in out.stdout + out.stderr
