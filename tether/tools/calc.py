"""A safe arithmetic evaluator over Python's ``ast`` (no names, attributes or calls but a few)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from tether.errors import ToolArgumentError

Number = int | float
MAX_EXPRESSION_LENGTH = 200
MAX_EXPONENT = 100
MAX_INT_DIGITS = 300
MAX_DEPTH = 50

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
ALLOWED = (
    "numbers, + - * / // % **, parentheses, "
    f"functions {', '.join(sorted(_FUNCTIONS))} and constants {', '.join(sorted(_CONSTANTS))}"
)


class CalcError(ValueError):
    """The expression is not allowed or cannot be evaluated."""


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression; raises ToolArgumentError with a fix hint."""
    try:
        if len(expression) > MAX_EXPRESSION_LENGTH:
            raise CalcError(f"it is longer than {MAX_EXPRESSION_LENGTH} characters")
        tree = ast.parse(expression.strip(), mode="eval")
        result = _eval(tree.body, 0)
        if isinstance(result, float) and not math.isfinite(result):
            raise CalcError("the result is not a finite number")
        return result
    except (CalcError, SyntaxError, ValueError, ArithmeticError, TypeError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise ToolArgumentError(
            f"cannot evaluate {expression[:80]!r}: {reason or type(exc).__name__}; "
            f"use only {ALLOWED}",
            tool="calculator",
            detail={"expression": expression[:MAX_EXPRESSION_LENGTH]},
        ) from None


def _eval(node: ast.expr, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise CalcError("it is nested too deeply")
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise CalcError(f"{type(node).__name__} ({ast.unparse(node)[:40]!r}) is not allowed")
    return handler(node, depth + 1)


def _constant(node: Any, depth: int) -> Number:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalcError(f"the literal {value!r} is not a number")
    return value


def _name(node: Any, depth: int) -> Number:
    if node.id not in _CONSTANTS:
        raise CalcError(f"the name {node.id!r} is not allowed")
    return _CONSTANTS[node.id]


def _unary(node: Any, depth: int) -> Number:
    op = _UNARY.get(type(node.op))
    if op is None:
        raise CalcError(f"the operator {type(node.op).__name__} is not allowed")
    result: Number = op(_eval(node.operand, depth))
    return result


def _binary(node: Any, depth: int) -> Number:
    op = _BINARY.get(type(node.op))
    if op is None:
        raise CalcError(f"the operator {type(node.op).__name__} is not allowed")
    left, right = _eval(node.left, depth), _eval(node.right, depth)
    if isinstance(node.op, ast.Pow):
        _check_power(left, right)
    if isinstance(node.op, ast.Mult):
        _check_product(left, right)
    return _bounded(op(left, right))


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise CalcError(f"exponents are limited to ±{MAX_EXPONENT}")
    if isinstance(base, int) and isinstance(exponent, int) and base.bit_length() * exponent > 4096:
        raise CalcError("the result would be too large")


def _check_product(left: Number, right: Number) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > 4096:
            raise CalcError("the result would be too large")


def _bounded(value: Any) -> Number:
    if isinstance(value, complex):
        raise CalcError("the result is a complex number")
    if isinstance(value, int) and value.bit_length() > 1000:
        raise CalcError(f"the result has more than {MAX_INT_DIGITS} digits")
    result: Number = value
    return result


def _call(node: Any, depth: int) -> Number:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
        raise CalcError(f"calling {ast.unparse(node.func)[:40]!r} is not allowed")
    if node.keywords:
        raise CalcError("keyword arguments are not allowed")
    args = [_eval(arg, depth) for arg in node.args]
    if not args or len(args) > 20:
        raise CalcError(f"{node.func.id}() takes between 1 and 20 numbers")
    return _bounded(_FUNCTIONS[node.func.id](*args))


_HANDLERS: dict[type[ast.AST], Callable[[Any, int], Number]] = {
    ast.Constant: _constant,
    ast.Name: _name,
    ast.UnaryOp: _unary,
    ast.BinOp: _binary,
    ast.Call: _call,
}
