"""The tools an agent may call, looked up by name with forgiving canonicalization."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from typing import Any

from tether.errors import ConfigError, UnknownToolError
from tether.tools.contract import Tool, ToolContract
from tether.tools.validation import SharedValidators, ValidatorCache

_PREFIXES = ("functions.", "functions_", "tools.", "tools_", "functions:", "tools:")
_SEPARATORS = re.compile(r"[\s\-.]+")
_QUOTES = "\"'`"


def normalize_tool_name(name: str) -> str:
    """The lenient form of a name: trimmed, unquoted, lower case, separators as ``_``."""
    text = name.strip().strip(_QUOTES).strip().lower()
    for prefix in _PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
            break
    text = text.strip()
    text = text.removesuffix("()")
    return _SEPARATORS.sub("_", text).strip("_")


class ToolRegistry:
    """An immutable set of tools with unique names."""

    def __init__(self, tools: Iterable[Tool], *, shared: SharedValidators | None = None) -> None:
        """``shared``: validators compiled for other registries (a runtime's runs)."""
        self._tools: dict[str, Tool] = {}
        self._normalized: dict[str, str] = {}
        self.validators = ValidatorCache(shared)
        for tool in tools:
            self._add(tool)

    def _add(self, tool: Tool) -> None:
        name = tool.contract.name
        if name in self._tools:
            raise ConfigError(
                f"two tools are named {name!r}; give one of them another name "
                "(@tool(name=...)) or register only one"
            )
        key = normalize_tool_name(name)
        clash = self._normalized.get(key)
        if clash is not None:
            raise ConfigError(
                f"tools {clash!r} and {name!r} differ only in case or separators, so a model "
                "cannot tell them apart; rename one of them"
            )
        self.validators.get(tool.contract, "input")  # an invalid schema fails here, early
        if tool.contract.output_schema is not None:
            self.validators.get(tool.contract, "output")
        self._tools[name] = tool
        self._normalized[key] = name

    def get(self, name: str) -> Tool | None:
        """The tool with exactly this name, or None."""
        return self._tools.get(name)

    def names(self) -> list[str]:
        """All tool names, sorted."""
        return sorted(self._tools)

    def contracts(self) -> list[ToolContract]:
        """All contracts, sorted by name."""
        return [self._tools[name].contract for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._tools)

    def resolve(self, name: str) -> Tool:
        """The tool a model meant by ``name``; raises UnknownToolError listing close matches."""
        exact = self._tools.get(name)
        if exact is not None:
            return exact
        key = normalize_tool_name(name) if isinstance(name, str) else ""
        canonical = self._normalized.get(key)
        if canonical is not None:
            return self._tools[canonical]
        raise self._unknown(name, key)

    def _unknown(self, name: object, key: str) -> UnknownToolError:
        available = self.names()
        close = difflib.get_close_matches(key, list(self._normalized), n=3, cutoff=0.5)
        did_you_mean = [self._normalized[match] for match in close]
        detail: dict[str, Any] = {
            "requested": name,
            "did_you_mean": did_you_mean,
            "available": available,
        }
        suggestion = f" Did you mean {', '.join(map(repr, did_you_mean))}?" if did_you_mean else ""
        return UnknownToolError(
            f"there is no tool named {name!r}.{suggestion} "
            f"Call one of the available tools instead: {', '.join(available) or '(none)'}",
            tool=str(name),
            detail=detail,
        )
