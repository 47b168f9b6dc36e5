"""Importing tether skips compiling the IRI grammars; the ``iri`` format is still checked."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tether.tools.validation import compile_schema


def test_the_iri_grammar_is_installed_here() -> None:
    # cyclonedx-bom (a dev dependency) pulls in jsonschema[format-nongpl]; without it the
    # two tests below would prove nothing
    assert importlib.util.find_spec("rfc3987_syntax") is not None


def test_importing_tether_leaves_the_iri_grammar_unloaded() -> None:
    code = "import sys, tether, jsonschema; print('rfc3987_syntax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_iri_format_is_checked_when_a_schema_uses_it() -> None:
    validator = compile_schema("t", {"type": "string", "format": "iri"})
    assert validator.is_valid("https://例え.jp/ä?q=1")
    assert not validator.is_valid("not an iri")
