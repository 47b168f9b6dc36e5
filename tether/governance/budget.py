"""Budgets: what a run, an agent role, a tenant and a tool may spend, and the arithmetic.

Declared in the agent spec (``budget:``, ``tools_budget:``), per run (``Runtime.run(...,
budget=...)``) and per tenant (settings ``tenant_budgets``). Money is ``Decimal`` here and
integer micro-units in what is stored and summed. Everything in this module is pure: the
runtime gathers what was spent (from the journal and the runs table) and asks :func:`check`
before each model and tool call, which answers None (go on) or an :class:`Exceeded`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tether.events import BudgetCharged, ModelResponded

MICROS = 1_000_000
Kind = Literal["tokens", "money", "tool_calls", "wall_s"]
KINDS: tuple[Kind, ...] = ("tokens", "money", "tool_calls", "wall_s")


class Budget(BaseModel):
    """Limits on what one scope may spend; an unset limit does not apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int | None = Field(default=None, ge=1, description="input+output tokens")
    money: Decimal | None = Field(
        default=None, ge=0, max_digits=18, decimal_places=6, description="e.g. '0.50'"
    )
    tool_calls: int | None = Field(default=None, ge=0, description="executed tool calls")
    wall_s: float | None = Field(default=None, gt=0, description="seconds since the run began")

    @property
    def empty(self) -> bool:
        return all(getattr(self, k) is None for k in KINDS)

    def limit(self, kind: Kind) -> int | float | None:
        """The limit of ``kind`` in the units of :class:`Spend` (money in micro-units)."""
        if kind == "money":
            return None if self.money is None else to_micros(self.money)
        value: int | float | None = getattr(self, kind)
        return value


class ToolBudget(BaseModel):
    """Limits on one tool's calls within a run (``tools_budget: {send_email: {calls: 3}}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: int | None = Field(default=None, ge=0, description="executed calls of the tool")
    money: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=6)

    def as_budget(self) -> Budget:
        return Budget(tool_calls=self.calls, money=self.money)


def to_micros(amount: Decimal) -> int:
    return int((amount * MICROS).to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, kw_only=True)
class Spend:
    """What was used. ``money_micros`` is money in micro-units; ``wall_s`` seconds."""

    tokens: int = 0
    money_micros: int = 0
    tool_calls: int = 0
    wall_s: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            tokens=self.tokens + other.tokens,
            money_micros=self.money_micros + other.money_micros,
            tool_calls=self.tool_calls + other.tool_calls,
            wall_s=self.wall_s + other.wall_s,
        )

    def amount(self, kind: Kind) -> int | float:
        return self.money_micros if kind == "money" else getattr(self, kind)


def charge_spend(charge: BudgetCharged) -> Spend:
    return Spend(
        tokens=charge.tokens, money_micros=charge.money_micros, tool_calls=charge.tool_calls
    )


def model_charge(response: ModelResponded) -> BudgetCharged:
    """The charge for one model call (its tokens and cost)."""
    return BudgetCharged(
        source="model",
        name=response.model,
        tokens=response.input_tokens + response.output_tokens,
        money_micros=to_micros(Decimal(response.cost)),
    )


def tool_charge(tool: str, cost: Decimal) -> BudgetCharged:
    """The charge for one executed tool call (one call and the tool's declared cost)."""
    return BudgetCharged(source="tool", name=tool, tool_calls=1, money_micros=to_micros(cost))


@dataclass(frozen=True, kw_only=True)
class BudgetLine:
    """One budget that applies, and what was spent against it."""

    scope: str  # "run", "agent 'x'", "tenant 'acme'", "tool 'send_email'"
    budget: Budget
    spent: Spend


@dataclass(frozen=True, kw_only=True)
class Exceeded:
    scope: str
    kind: Kind
    spent: int | float
    limit: int | float

    def describe(self) -> str:
        return (
            f"{self.scope} budget of {_amount(self.kind, self.limit)} would be exceeded "
            f"(spent {_amount(self.kind, self.spent)})"
        )


@dataclass(frozen=True, kw_only=True)
class RunBudgets:
    """Every budget that applies to one run."""

    run: Budget = field(default_factory=Budget)
    role: Budget = field(default_factory=Budget)
    role_name: str = ""
    tenant: Budget | None = None
    tenant_name: str = "default"
    tools: Mapping[str, ToolBudget] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return (
            self.run.empty
            and self.role.empty
            and (self.tenant is None or self.tenant.empty)
            and not self.tools
        )


def lines(
    budgets: RunBudgets,
    run_spent: Spend,
    tool_spent: Mapping[str, Spend],
    tenant_before: Spend | None,
) -> list[BudgetLine]:
    """The budgets that apply, each with its spend. ``tenant_before``: the tenant's other
    runs; a tenant budget whose other runs are unknown counts this run alone."""
    found = [
        BudgetLine(scope="run", budget=budgets.run, spent=run_spent),
        BudgetLine(scope=f"agent {budgets.role_name!r}", budget=budgets.role, spent=run_spent),
    ]
    if budgets.tenant is not None:
        before = tenant_before or Spend()
        found.append(
            BudgetLine(
                scope=f"tenant {budgets.tenant_name!r}",
                budget=budgets.tenant,
                spent=before
                + Spend(
                    tokens=run_spent.tokens,
                    money_micros=run_spent.money_micros,
                    tool_calls=run_spent.tool_calls,
                ),
            )
        )
    for name, tb in sorted(budgets.tools.items()):
        spent = tool_spent.get(name, Spend())
        found.append(BudgetLine(scope=f"tool {name!r}", budget=tb.as_budget(), spent=spent))
    return [line for line in found if not line.budget.empty]


def check(found: Sequence[BudgetLine], estimate: Spend, tool: str | None = None) -> Exceeded | None:
    """The first budget that ``estimate`` more would exceed, or None.

    A tool's own budget counts only for a call of that tool (``tool``).
    """
    for line in found:
        if line.scope.startswith("tool ") and line.scope != f"tool {tool!r}":
            continue
        for kind in KINDS:
            limit = line.budget.limit(kind)
            if limit is None:
                continue
            spent = line.spent.amount(kind)
            if spent + estimate.amount(kind) > limit:
                return Exceeded(scope=line.scope, kind=kind, spent=spent, limit=limit)
    return None


MODEL_ESTIMATE = Spend(tokens=1)  # a model call uses at least one token


def tool_estimate(cost: Decimal) -> Spend:
    return Spend(tool_calls=1, money_micros=to_micros(cost))


def left(found: Sequence[BudgetLine]) -> str | None:
    """What remains, for the model's context: the tightest remaining amount of each kind."""
    remaining: dict[Kind, int | float] = {}
    tools: list[str] = []
    for line in found:
        if line.scope.startswith("tool "):
            parts = [
                _amount(kind, max(0, limit - line.spent.amount(kind)))
                for kind in ("tool_calls", "money")
                if (limit := line.budget.limit(kind)) is not None
            ]
            tools.append(f"{line.scope.removeprefix('tool ').strip(chr(39))} {', '.join(parts)}")
            continue
        for kind in KINDS:
            limit = line.budget.limit(kind)
            if limit is not None:
                rest = max(0, limit - line.spent.amount(kind))
                remaining[kind] = min(remaining.get(kind, rest), rest)
    shown = [_amount(kind, remaining[kind]) for kind in KINDS if kind in remaining]
    if tools:
        shown.append("per tool: " + "; ".join(tools))
    return ("Budget left: " + ", ".join(shown) + ".") if shown else None


def summary(by_source: Mapping[tuple[str, str], Spend], wall_s: float) -> str:
    """What was spent where (per model, per tool), for a run's final reason."""
    parts = []
    for (source, name), spend in sorted(by_source.items()):
        what = f"{spend.tokens} tokens" if source == "model" else f"{spend.tool_calls} calls"
        parts.append(f"{source} {name}: {what}, {_amount('money', spend.money_micros)}")
    total = sum((s for s in by_source.values()), Spend())
    parts.append(
        f"total: {total.tokens} tokens, {_amount('money', total.money_micros)}, "
        f"{total.tool_calls} tool calls, {wall_s:.1f} s"
    )
    return "spent " + "; ".join(parts)


def _amount(kind: Kind, value: int | float) -> str:
    if kind == "money":
        money = (Decimal(int(value)) / MICROS).normalize()
        exponent = money.as_tuple().exponent
        return f"${money:.2f}" if isinstance(exponent, int) and exponent >= -2 else f"${money}"
    if kind == "wall_s":
        return f"{value:.0f} s"
    unit = "tokens" if kind == "tokens" else "tool calls"
    return f"{int(value)} {unit}"
