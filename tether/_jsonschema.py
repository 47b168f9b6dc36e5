"""Import ``jsonschema`` without paying for its IRI grammar at start-up.

When the optional ``rfc3987-syntax`` package is installed (``jsonschema[format-nongpl]`` pulls
it in, and so does the dev dependency ``cyclonedx-bom``), importing ``jsonschema`` compiles
some twenty Lark grammars for the ``iri`` format: about 3 s of CPU in every process that
imports tether, CLI commands and tool subprocesses included. Importing this module imports
``jsonschema`` with a stand-in for that package whose ``is_valid_syntax`` imports the real one
on its first call, so the ``iri`` format is still checked, and only by a process that checks it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

_SLOW = "rfc3987_syntax"


def _is_valid_syntax(term: str, value: str) -> bool:
    real = importlib.import_module(_SLOW)
    return bool(real.is_valid_syntax(term, value))


def preload() -> None:
    """Import ``jsonschema`` now, deferring ``rfc3987_syntax`` to its first use."""
    if "jsonschema" in sys.modules or _SLOW in sys.modules:
        return
    if importlib.util.find_spec(_SLOW) is None:
        import jsonschema  # nothing slow to defer

        return
    stand_in = types.ModuleType(_SLOW)
    stand_in.is_valid_syntax = _is_valid_syntax  # type: ignore[attr-defined]
    sys.modules[_SLOW] = stand_in
    try:
        import jsonschema  # noqa: F401
    finally:
        if sys.modules.get(_SLOW) is stand_in:
            del sys.modules[_SLOW]


preload()
