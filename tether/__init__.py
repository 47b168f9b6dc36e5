"""tether: a runtime for production AI agents.

``from tether import Agent, tool, Runtime`` is the whole of a first program::

    from tether import Agent, Runtime

    agent = Agent(name="helper", tools=["calculator"])
    result = Runtime().run_sync(agent, "What is 17 * 23?")
"""

from tether import _jsonschema  # noqa: F401  (first: imports jsonschema without its slow start)
from tether.agent.memory.config import WorkingMemory
from tether.agent.spec import Agent, Limits, load_agent
from tether.governance.budget import Budget, ToolBudget
from tether.runtime import RunResult, Runtime
from tether.team import Role, Team, load_team
from tether.tools import Tool, ToolContext, ToolContract, tool
from tether.types import RunStatus

__all__ = [
    "Agent",
    "Budget",
    "Limits",
    "Role",
    "RunResult",
    "RunStatus",
    "Runtime",
    "Team",
    "Tool",
    "ToolBudget",
    "ToolContext",
    "ToolContract",
    "WorkingMemory",
    "load_agent",
    "load_team",
    "tool",
]
