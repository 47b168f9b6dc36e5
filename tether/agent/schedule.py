"""Which tool calls of one model step run together (pure: calls and contracts in, plan out).

The calls of a step become *units*: one call, or a batch of calls of one tool that has a batch
form. Units become *waves*, run one after another; the units of a wave run at the same time.
A unit whose tool may run in parallel (reads, by default: ``ToolContract.runs_in_parallel``)
joins the wave before it when that wave is parallel too; any other unit (a write) is a wave of
its own, so writes keep the order the model asked for, and a read asked for after a write sees
its effect.

Batches: every call of a parallel tool with a batch form is one unit (at the first call's
place); for a tool that is not parallel, only calls next to each other are batched, so no
write moves past another call.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from tether.errors import ToolError
from tether.tools import Tool, ToolRegistry
from tether.types import ToolCall


@dataclass(frozen=True)
class Unit:
    """Call indices run as one: a single call, or (``batch``) one batch call of one tool."""

    indices: tuple[int, ...]
    parallel: bool
    batch: bool = False


Wave = tuple[Unit, ...]


def plan_calls(
    calls: Sequence[ToolCall], registry: ToolRegistry, done: Collection[int] = ()
) -> list[Wave]:
    """The waves that run the calls not in ``done``, in order."""
    tools = [_tool(registry, c.name) for c in calls]
    return _waves(_units(tools, [i for i in range(len(calls)) if i not in done]))


def _tool(registry: ToolRegistry, name: str) -> Tool | None:
    try:
        return registry.resolve(name)
    except ToolError:
        return None  # rejected without running anything: safe alongside others


def _units(tools: Sequence[Tool | None], todo: Sequence[int]) -> list[Unit]:
    units: list[Unit] = []
    taken: set[int] = set()
    for position, i in enumerate(todo):
        if i in taken:
            continue
        tool = tools[i]
        parallel = tool is None or tool.contract.runs_in_parallel
        peers = [i]
        if tool is not None and tool.batch is not None:
            peers = _batch_peers(tools, todo[position:], tool, parallel)
        taken.update(peers)
        units.append(Unit(tuple(peers), parallel, batch=len(peers) > 1))
    return units


def _batch_peers(
    tools: Sequence[Tool | None], rest: Sequence[int], tool: Tool, parallel: bool
) -> list[int]:
    peers = []
    for j in rest:
        if tools[j] is tool:
            peers.append(j)
        elif not parallel:
            break  # a non-parallel tool batches only calls next to each other
    return peers


def _waves(units: Sequence[Unit]) -> list[Wave]:
    waves: list[list[Unit]] = []
    for unit in units:
        if unit.parallel and waves and waves[-1][-1].parallel:
            waves[-1].append(unit)
        else:
            waves.append([unit])
    return [tuple(w) for w in waves]
