"""`| math EXPR [as] NAME, ...`: arithmetic on numeric fields, each result a new field (LogsQL's
math).

    expr := expr ("+" | "-") term | term             term := term ("*" | "/" | "%") unary | unary
    unary := "-" unary | power                       power := atom ["^" unary]
    atom := number | field | FUNC "(" expr, ... ")" | "(" expr ")"
    and, loosest of all, `a default b`: b where a is not a number

Functions: abs(x), ceil(x), floor(x), exp(x), ln(x), round(x[, nearest]), min(a, b, ...),
max(a, b, ...). A field takes part when its value is a number as a whole (`12`, `-3.5`, `1e3`;
severity and facility by their numbers, `_time` and `_recv` as nanoseconds since the epoch).
Anything else is not a number (NaN): a missing or non-numeric field, `x / 0`, `x % 0`, `ln(-1)`;
NaN spreads through the expression, and a result that is not a finite number is written as null.
A whole result is written as an integer (`3`, not `3.0`). `%` keeps the sign of the dividend,
`^` is right-associative (`2 ^ 3 ^ 2` = 512). Results named earlier in the same stage may be
used by later ones. Cost: numpy over each chunk of rendered rows (one call per node of the
expression), plus reading each field's value per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

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


Array = np.ndarray  # float64, one value per object of a chunk


def _div(a: Array, b: Array) -> Array:
    return np.where(b == 0, np.nan, a / np.where(b == 0, 1.0, b))


def _mod(a: Array, b: Array) -> Array:
    bad = (b == 0) | np.isinf(a)
    return np.where(bad, np.nan, np.fmod(a, np.where(bad, 1.0, b)))


def _pow(a: Array, b: Array) -> Array:
    r = np.power(a, b)  # a negative number to a fractional power is NaN, as it is not real
    # overflow and 0 to a negative power are not numbers (an infinity from finite operands)
    return np.where(np.isinf(r) & np.isfinite(a) & np.isfinite(b), np.nan, r)


def _round(x: Array, nearest: Array | None = None) -> Array:
    if nearest is None:
        return np.round(x)  # halves to even, as Python's round()
    bad = (nearest <= 0) | np.isnan(nearest)
    step = np.where(bad, 1.0, nearest)
    return np.where(bad, np.nan, np.where(np.isfinite(x), np.round(x / step) * step, x))


def _ln(x: Array) -> Array:
    return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


BINARY: dict[str, Callable[[Array, Array], Array]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": _div,
    "%": _mod,
    "^": _pow,
}
# name: (function over arrays, fewest arguments, most arguments or None for any)
FUNCTIONS: dict[str, tuple[Callable[..., Array], int, int | None]] = {
    "abs": (np.abs, 1, 1),
    "ceil": (np.ceil, 1, 1),
    "floor": (np.floor, 1, 1),
    "exp": (np.exp, 1, 1),  # overflow: infinity, which is written as null
    "ln": (_ln, 1, 1),
    "round": (_round, 1, 2),
    "min": (lambda *a: np.minimum.reduce(a), 1, None),  # NaN in any argument: NaN
    "max": (lambda *a: np.maximum.reduce(a), 1, None),
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


def evaluate(expr: Expr, objects: Sequence[JsonObject], made: dict[str, Array] | None = None) -> Array:
    """The expression over a chunk of objects at once (numpy, one call per node), NaN where
    it is not a number. `made`: results of this stage so far, by name."""
    made = {} if made is None else made
    with np.errstate(all="ignore"):
        return _evaluate(expr, objects, made)


def _evaluate(expr: Expr, objects: Sequence[JsonObject], made: dict[str, Array]) -> Array:
    if isinstance(expr, Num):
        return np.full(len(objects), expr.value)
    if isinstance(expr, Ref):
        got = made.get(ALIASES.get(expr.name, expr.name))
        if got is not None:
            return got
        return np.array([field_number(o, expr.name) for o in objects], np.float64)
    args = [_evaluate(a, objects, made) for a in expr.args]
    if isinstance(expr, Op):
        if expr.op == "neg":
            return -args[0]
        if expr.op == "default":
            return np.where(np.isnan(args[0]), args[1], args[0])
        r = BINARY[expr.op](args[0], args[1])
        return np.where(np.isnan(args[0]) | np.isnan(args[1]), np.nan, r)  # NaN ^ 0 is not 1 here
    return np.asarray(FUNCTIONS[expr.fn][0](*args), np.float64)


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
        self.table([obj])

    def table(self, objects: list[JsonObject]) -> list[JsonObject]:
        made: dict[str, Array] = {}
        for expr, name in self.results:
            values = evaluate(expr, objects, made)
            # a later expression reads this result as it is written: null (NaN) unless finite
            made[ALIASES.get(name, name)] = np.where(np.isfinite(values), values, np.nan)
            for obj, x in zip(objects, values.tolist()):
                set_field(obj, name, as_json(x))
        return objects
