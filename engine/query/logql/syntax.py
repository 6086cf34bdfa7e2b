"""The LogQL parse tree: log queries (a stream selector and a pipeline) and metric queries
(range aggregations, vector aggregations, arithmetic), as immutable dataclasses.

Every node keeps `pos`, the 0-based offset of its text in the query, for errors; it is left
out of comparisons so that tests compare trees by meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import LogjetError


class LogQLError(LogjetError):
    """A query LogQL or logjet refuses; `position` is the 0-based offset to blame. `str()` is
    Loki's own wording: `parse error at line 1, col 5: ...`."""

    def __init__(self, message: str, position: int = 0):
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"parse error at line 1, col {self.position + 1}: {self.message}"


def _pos() -> int:
    return field(default=0, compare=False)


@dataclass(frozen=True)
class Matcher:
    """`name op "value"`, op one of = != =~ !~ (a selector's matcher or a string label filter)."""

    name: str
    op: str
    value: str
    pos: int = _pos()


@dataclass(frozen=True)
class LineFilter:
    """`|= "a" or "b"`, `!=`, `|~`, `!~`: the line must (not) contain or match one of `values`."""

    op: str
    values: tuple[str, ...]
    pos: int = _pos()


@dataclass(frozen=True)
class Parser:
    """`| json` or `| logfmt` (without parameters)."""

    kind: str
    pos: int = _pos()


@dataclass(frozen=True)
class NumberFilter:
    """`name op N`, op one of == != > >= < <=."""

    name: str
    op: str
    value: float
    pos: int = _pos()


@dataclass(frozen=True)
class LabelAnd:
    children: tuple[LabelExpr, ...]


@dataclass(frozen=True)
class LabelOr:
    children: tuple[LabelExpr, ...]


LabelExpr = Matcher | NumberFilter | LabelAnd | LabelOr


@dataclass(frozen=True)
class LabelFilter:
    """`| label filter expression`."""

    expr: LabelExpr
    pos: int = _pos()


@dataclass(frozen=True)
class LabelList:
    """`| drop a, b` (keep=False) or `| keep a, b` (keep=True)."""

    names: tuple[str, ...]
    keep: bool
    pos: int = _pos()


Stage = LineFilter | Parser | LabelFilter | LabelList


@dataclass(frozen=True)
class LogQuery:
    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...] = ()
    pos: int = _pos()


@dataclass(frozen=True)
class RangeAgg:
    """`op(log query [range] [offset d])`: op one of count_over_time, rate, bytes_over_time,
    bytes_rate."""

    op: str
    log: LogQuery
    range_ns: int
    offset_ns: int = 0
    pos: int = _pos()


@dataclass(frozen=True)
class VectorAgg:
    """`op [by|without (labels)] ([k,] expr)`; `by` None: no grouping clause."""

    op: str
    inner: Metric
    by: tuple[str, ...] | None = None
    without: bool = False
    param: int | None = None
    pos: int = _pos()


@dataclass(frozen=True)
class BinOp:
    """`left op right`, op one of + - * / % ^."""

    op: str
    left: Metric
    right: Metric
    pos: int = _pos()


@dataclass(frozen=True)
class Number:
    value: float
    pos: int = _pos()


@dataclass(frozen=True)
class VectorOf:
    """`vector(N)`: one series without labels, N at every step."""

    value: float
    pos: int = _pos()


Metric = RangeAgg | VectorAgg | BinOp | Number | VectorOf
Expr = LogQuery | Metric

RANGE_OPS = ("count_over_time", "rate", "bytes_over_time", "bytes_rate")
VECTOR_OPS = ("sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk")
