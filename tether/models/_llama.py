"""Loading ``llama_cpp`` and its models: one ``Llama`` per process, grammars from schemas.

``llama_cpp`` is imported lazily, after ``OMP_WAIT_POLICY=PASSIVE`` is set: without it,
generation collapses under CPU contention (DESIGN §2.4). A ``Llama`` is not thread-safe, so each
cached one comes with the lock that serializes inference on it.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from tether.errors import ConfigError

# llama-cpp-python's converter lets raw control characters (newlines) into JSON strings, which
# JSON forbids; upstream llama.cpp's converter excludes them. Patch the rule the same way.
_LOOSE_CHAR = 'char ::= [^"\\\\]'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F]'
# The converter spells maxLength N as N nested optionals, ``(char (char (char)?)?)?``; llama.cpp's
# parser rejects a few hundred of those ("exceeds sane defaults") and the process then crashes.
# The bounded-repetition form ``char{0,N}`` means the same and parses.
_NESTED_CHARS = re.compile(r"\((?:char \()*char(?:\)\?)+")


def _compact_repetition(match: re.Match[str]) -> str:
    text = match.group(0)
    count = text.count("char")
    if text.count(")?") != count:  # not a pure nest of optionals: leave it alone
        return text
    return f"char{{0,{count}}}"


def compact_gbnf(gbnf: str) -> str:
    """Rewrite nested optional ``char`` chains as ``char{0,N}`` and forbid raw control chars."""
    return _NESTED_CHARS.sub(_compact_repetition, gbnf).replace(_LOOSE_CHAR, _STRICT_CHAR)


class ChatCompleter(Protocol):
    """The part of ``llama_cpp.Llama`` tether uses (tests inject fakes)."""

    def create_chat_completion(self, **kwargs: Any) -> Any: ...


@dataclass
class Loaded:
    """A model with the lock that serializes inference on it."""

    llama: ChatCompleter
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE: dict[tuple[str, int, int], Loaded] = {}
_CACHE_LOCK = threading.Lock()


def import_llama_cpp() -> ModuleType:
    """Import ``llama_cpp`` (with ``OMP_WAIT_POLICY=PASSIVE``) or explain how to install it."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConfigError(
            "the local model needs llama-cpp-python, which is not installed; "
            "run `make run` or `pip install 'tether[local]'`"
        ) from exc
    return llama_cpp


def load(path: Path, *, n_ctx: int, n_threads: int, seed: int) -> Loaded:
    """The process's ``Llama`` for (path, n_ctx, n_threads), loaded on first use."""
    resolved = path.expanduser().resolve()
    key = (str(resolved), n_ctx, n_threads)
    with _CACHE_LOCK:
        loaded = _CACHE.get(key)
        if loaded is None:
            check_model_file(resolved)
            llama_cpp = import_llama_cpp()
            try:
                llama = llama_cpp.Llama(
                    model_path=str(resolved),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    seed=seed,
                    verbose=False,
                )
            except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
                raise ConfigError(
                    f"cannot load model file {str(resolved)!r}: {exc}; "
                    "check it is a GGUF model or set TETHER_MODEL_PATH to one"
                ) from exc
            loaded = _CACHE[key] = Loaded(llama=llama)
        return loaded


@atexit.register
def _close_all() -> None:
    """Free models before interpreter teardown (``Llama.__del__`` fails once modules are gone)."""
    with _CACHE_LOCK:
        for loaded in _CACHE.values():
            close = getattr(loaded.llama, "close", None)
            if callable(close):
                close()
        _CACHE.clear()


def check_model_file(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(
            f"model file {str(path)!r} does not exist; "
            "set TETHER_MODEL_PATH to a GGUF file or use model id local:smollm2"
        )


def grammar_for(schema: dict[str, Any]) -> Any:
    """A ``LlamaGrammar`` forcing ``schema``; raises ``ValueError`` if it cannot be converted.

    ``response_format={"type": "json_object", "schema": ...}`` silently falls back to *any*
    JSON when conversion fails; building the grammar here makes that failure loud.
    """
    llama_cpp = import_llama_cpp()
    from llama_cpp import llama_grammar

    try:
        gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises assertions, KeyErrors, ...
        raise ValueError(f"llama.cpp cannot turn this JSON schema into a grammar: {exc}") from exc
    return llama_cpp.LlamaGrammar.from_string(compact_gbnf(gbnf), verbose=False)
