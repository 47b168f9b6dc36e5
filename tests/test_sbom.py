"""`make sbom`'s module writes a CycloneDX JSON file listing tether's dependencies with versions."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from tether.release.sbom import missing, runtime_requirements


def test_the_sbom_lists_every_runtime_dependency_with_its_version(tmp_path: Path) -> None:
    out = tmp_path / "sbom.cdx.json"
    done = subprocess.run(
        [sys.executable, "-m", "tether.release.sbom", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sbom = json.loads(out.read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["metadata"]["component"]["name"] == "tether"
    names = {c["name"].lower(): c["version"] for c in sbom["components"]}
    assert names["sqlalchemy"] == version("SQLAlchemy") and names["dbos"] == version("dbos")
    assert {"pydantic", "cedarpy", "httpx"} <= set(names)
    assert missing(sbom) == [] and len(runtime_requirements()) >= 20
    # a dependency the environment lacks is reported, not silently passed
    sbom["components"] = [c for c in sbom["components"] if c["name"].lower() != "dbos"]
    assert missing(sbom) == ["dbos"]
