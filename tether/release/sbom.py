"""``make sbom``: a CycloneDX SBOM (JSON) of the environment tether is installed in.

Runs ``cyclonedx-py environment`` (the ``cyclonedx-bom`` package, a dev dependency) against
this interpreter, with tether's ``pyproject.toml`` as the root component, then checks that
every runtime dependency tether declares is listed with a version. Usage::

    python -m tether.release.sbom [OUT]     # default: dist/sbom-tether-VERSION.cdx.json
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path
from typing import Any

from tether.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent.parent


def _tool() -> str:
    here = Path(sys.executable).parent / "cyclonedx-py"
    found = str(here) if here.exists() else shutil.which("cyclonedx-py")
    if not found:
        raise ConfigError(
            "cyclonedx-py is not installed: `pip install cyclonedx-bom` (make sbom does it "
            "through the dev extra)"
        )
    return found


def runtime_requirements() -> list[str]:
    """The names of tether's declared runtime dependencies (no extras)."""
    names = []
    for req in requires("tether") or []:
        if "extra ==" in req:
            continue
        names.append(re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0])
    return names


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing(sbom: dict[str, Any]) -> list[str]:
    """Runtime dependencies not listed (with a version) in ``sbom``."""
    listed = {_norm(c["name"]) for c in sbom.get("components", []) if c.get("version")}
    return [r for r in runtime_requirements() if _norm(r) not in listed]


def write(out: Path) -> dict[str, Any]:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            _tool(),
            "environment",
            "--pyproject",
            str(ROOT / "pyproject.toml"),
            "--output-reproducible",
            "--of",
            "JSON",
            "-o",
            str(out),
            sys.executable,
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    sbom: dict[str, Any] = json.loads(out.read_text())
    gaps = missing(sbom)
    if gaps:
        raise ConfigError(f"the SBOM lacks tether's dependencies {gaps}: reinstall the venv")
    return sbom


def main() -> None:
    default = ROOT / "dist" / f"sbom-tether-{version('tether')}.cdx.json"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    sbom = write(out)
    print(f"{out}: CycloneDX {sbom['specVersion']}, {len(sbom['components'])} components")


if __name__ == "__main__":
    main()
