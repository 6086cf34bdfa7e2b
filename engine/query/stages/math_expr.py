"""`| math EXPR [as] NAME, ...`: arithmetic on numeric fields, each result a new field (LogsQL's
math).

    expr := expr ("+" | "-") term | term             term := term ("*" | "/" | "%") power | power
    power := unary ["^" power]                       unary := "-" unary | atom
    atom := number | field | FUNC "(" expr, ... ")" | "(" expr ")"
    and, loosest of all, `a default b`: b where a is not a number

Functions: abs(x), ceil(x), floor(x), exp(x), ln(x), round(x[, nearest]), min(a, b, ...),
max(a, b, ...). A field takes part when its value is a number as a whole (`12`, `-3.5`, `1e3`;
severity and facility by their numbers, `_time` and `_recv` as nanoseconds since the epoch).
Anything else is not a number (NaN): a missing or non-numeric field, `x / 0`, `x % 0`, `ln(-1)`;
NaN spreads through the expression, and a result that is not a finite number is written as null.
A whole result is written as an integer (`3`, not `3.0`). `%` keeps the sign of the dividend,
`^` is right-associative (`2 ^ 3 ^ 2` = 512). Results named earlier in the same stage may be
used by later ones. Cost: a small tree walk per row, in Python, on rendered rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Union

from engine.query.field_names import ALIASES, TIME
from engine.query.field_names import resolve as resolve_field
from engine.query.objects import Json, JsonObject
from engine.query.stages.field_list import object_value
from engine.query.object_fields import set_field, time_ns
from engine.query.stages.transform import Transform
from native_kernels.numbers import parse_number

NAN = float("nan")


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Ref:
    name: str  # a field


@dataclass(frozen=True)
class Op:
    op: str  # + - * / % ^ default neg
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Expr, ...]


Expr = Union[Num, Ref, Op, Call]


def _div(a: float, b: float) -> float:
    return NAN if b == 0 else a / b


def _mod(a: float, b: float) -> float:
    return NAN if b == 0 or math.isinf(a) else math.fmod(a, b)


def _pow(a: float, b: float) -> float:
    try:
        r = a**b
    except (OverflowError, ZeroDivisionError):
        return NAN
    return r if isinstance(r, float) else NAN  # a negative number to a fractional power: complex


def _round(x: float, nearest: float = 1.0) -> float:
    if nearest <= 0 or math.isnan(nearest):
        return NAN
    return round(x / nearest) * nearest if math.isfinite(x) else x


def _ln(x: float) -> float:
    return math.log(x) if x > 0 else NAN


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _floor(x: float) -> float:
    return float(math.floor(x)) if math.isfinite(x) else x


def _ceil(x: float) -> float:
    return float(math.ceil(x)) if math.isfinite(x) else x


BINARY: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "%": _mod,
    "^": _pow,
}
# name: (function, fewest arguments, most arguments or None for any)
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int | None]] = {
    "abs": (abs, 1, 1),
    "ceil": (_ceil, 1, 1),
    "floor": (_floor, 1, 1),
    "exp": (_exp, 1, 1),
    "ln": (_ln, 1, 1),
    "round": (_round, 1, 2),
    "min": (lambda *a: NAN if any(math.isnan(x) for x in a) else min(a), 1, None),
    "max": (lambda *a: NAN if any(math.isnan(x) for x in a) else max(a), 1, None),
}


def field_number(obj: JsonObject, name: str) -> float:
    """A field's value as a number, NaN when it is none."""
    name = ALIASES.get(name, name)
    v = object_value(obj, name)
    if isinstance(v, bool) or v is None:
        return NAN
    if isinstance(v, (int, float)):
        return float(v)
    if not isinstance(v, str):
        return NAN
    if resolve_field(name).kind == TIME:
        t = time_ns(v)
        return NAN if t is None else float(t)
    n = parse_number(v.encode())
    return NAN if n is None else float(n)


def evaluate(expr: Expr, obj: JsonObject) -> float:
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        return field_number(obj, expr.name)
    if isinstance(expr, Op):
        if expr.op == "neg":
            return -evaluate(expr.args[0], obj)
        a = evaluate(expr.args[0], obj)
        if expr.op == "default":
            return evaluate(expr.args[1], obj) if math.isnan(a) else a
        b = evaluate(expr.args[1], obj)
        if math.isnan(a) or math.isnan(b):
            return NAN
        return BINARY[expr.op](a, b)
    fn = FUNCTIONS[expr.fn][0]
    args = [evaluate(a, obj) for a in expr.args]
    if any(math.isnan(x) for x in args):
        return NAN
    return float(fn(*args))


def refs(expr: Expr) -> set[str]:
    """The fields an expression reads."""
    if isinstance(expr, Ref):
        return {expr.name}
    if isinstance(expr, (Op, Call)):
        return set().union(*(refs(a) for a in expr.args))
    return set()


def as_json(x: float) -> Json:
    """A result as JSON: null unless finite, an int when whole."""
    if not math.isfinite(x):
        return None
    if x.is_integer() and abs(x) < 2**53:
        return int(x)
    return x


@dataclass(frozen=True)
class Math(Transform):
    results: tuple[tuple[Expr, str], ...]  # (expression, name) in order
    position: int = 0

    def reads(self) -> set[str]:
        return {name for expr, _ in self.results for name in refs(expr)}

    def apply(self, obj: JsonObject) -> None:
        for expr, name in self.results:
            set_field(obj, name, as_json(evaluate(expr, obj)))
