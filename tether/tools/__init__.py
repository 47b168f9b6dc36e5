"""tether's tool layer: contracts, ``@tool``, validation, registry, executor and retrieval."""

from tether.tools.builtin import (
    BUILTIN_TOOLS,
    builtin_registry,
    calculator,
    current_datetime,
    list_files,
    read_file,
)
from tether.tools.contract import RetryPolicy, SideEffect, Tool, ToolContext, ToolContract
from tether.tools.decorator import make_tool, tool
from tether.tools.executor import PreparedCall, ToolExecutor, ToolOutcome
from tether.tools.jsonable import to_jsonable
from tether.tools.preselect import preselect, split_subgoals
from tether.tools.registry import ToolRegistry, normalize_tool_name
from tether.tools.validation import ValidatorCache, validate_arguments, validate_output

__all__ = [
    "BUILTIN_TOOLS",
    "PreparedCall",
    "RetryPolicy",
    "SideEffect",
    "Tool",
    "ToolContext",
    "ToolContract",
    "ToolExecutor",
    "ToolOutcome",
    "ToolRegistry",
    "ValidatorCache",
    "builtin_registry",
    "calculator",
    "current_datetime",
    "list_files",
    "make_tool",
    "normalize_tool_name",
    "preselect",
    "read_file",
    "split_subgoals",
    "to_jsonable",
    "tool",
    "validate_arguments",
    "validate_output",
]
