"""A LogQL log query → a logjet filter tree (engine.query.filters) and the labels its rows show.

- Stream matchers and string label filters compare a label's value as Loki does: `=` is exact
  equality (`""` matches rows without the label), `=~` a fully anchored regex. On `host`, `app`
  and the other dictionary columns they become table tests over each part's dictionary; on
  `severity`, `facility` and `detected_level` the names are turned into the codes they stand
  for (`detected_level="info"` is severity 5 or 6); on fields, tests of the field's values.
- Line filters test the message: `|= "text"` is a literal regex (a substring test that the
  index narrows through the whole tokens of the text, as logjet's `/text/` does), `|~` a
  regex with `re.search` semantics; `!=` and `!~` negate them.
- Numeric label filters (`| status >= 500`) are logjet range tests: only values that are
  numbers take part. `__error__` never has a value: logjet makes no parse errors at query time.
- `| json` and `| logfmt` re-parse nothing: logjet extracted JSON keys and key=value pairs when
  it stored the row. After them, those keys are labels (as Loki's parsed labels are): label
  filters test them and the answer shows them; before them, a key has no value. The other
  columns (`procid`, `msgid`, `source`, `format`) are labels anywhere, like Loki's structured
  metadata. `| drop` and `| keep` shape the labels shown.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

from engine.query.field_names import TIME, Field
from engine.query.field_eval import Leaf
from engine.query.filters.base import Filter
from engine.query.filters.boolean import All, And, Not, Or
from engine.query.filters.exists import Exists
from engine.query.filters.phrase import Phrase
from engine.query.filters.range import Range
from engine.query.filters.regex import Regex
from engine.query.logql.labels import codes_matching, coded, field_of
from engine.query.logql.syntax import (
    LabelAnd,
    LabelExpr,
    LabelFilter,
    LabelList,
    LabelOr,
    LineFilter,
    LogQLError,
    LogQuery,
    Matcher,
    NumberFilter,
    Parser,
)
from engine.query.field_names import KV, MESSAGE, resolve

TRUE: Filter = All()
FALSE: Filter = Not(All())
MESSAGE_FIELD = resolve("message")


@dataclass(frozen=True)
class LabelView:
    """Which labels a log query's rows show: the stream labels, the fields too after a parser
    stage, less what `| drop` removes or `| keep` leaves out."""

    parsed: bool = False
    drop: frozenset[str] = frozenset()
    keep: frozenset[str] | None = None

    def shows(self, name: str) -> bool:
        return name not in self.drop and (self.keep is None or name in self.keep)


def translate(query: LogQuery) -> tuple[Filter, LabelView]:
    """(the filter selecting the query's rows, the labels they show); raises LogQLError."""
    parts: list[Filter] = [matcher_filter(m) for m in query.matchers]
    parsed = False
    drop: set[str] = set()
    keep: set[str] | None = None
    for stage in query.stages:
        if isinstance(stage, LineFilter):
            parts.append(_line_filter(stage))
        elif isinstance(stage, Parser):
            parsed = True
        elif isinstance(stage, LabelFilter):
            parts.append(_label_expr(stage.expr, parsed))
        elif isinstance(stage, LabelList):
            if stage.keep:
                keep = set(stage.names) if keep is None else keep & set(stage.names)
            else:
                drop |= set(stage.names)
    return _and(parts), LabelView(parsed, frozenset(drop), None if keep is None else frozenset(keep))


def _and(parts: list[Filter]) -> Filter:
    parts = [p for p in parts if p != TRUE]
    if not parts:
        return TRUE
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _or(parts: list[Filter]) -> Filter:
    return parts[0] if len(parts) == 1 else Or(tuple(parts))


def _field(name: str, pos: int) -> Field:
    field = field_of(name)
    if field.kind == TIME:
        raise LogQLError(f"{name} is not a label; use the query's start and end for time", pos)
    return field


def _value_test(m: Matcher) -> Callable[[str], bool]:
    """The positive form of the matcher (= or =~) as a test on a label value."""
    if m.op in ("=", "!="):
        return m.value.__eq__
    try:
        rx = re.compile(m.value)
    except re.error as exc:
        raise LogQLError(f"invalid regex {m.value!r} for {m.name}: {exc}", m.pos) from None
    return lambda v: rx.fullmatch(v) is not None


def matcher_filter(m: Matcher) -> Filter:
    """A stream matcher or string label filter as a filter."""
    test = _value_test(m)
    negate = m.op in ("!=", "!~")
    if m.name.startswith("__") and m.name.endswith("__"):
        # __error__ and the like: never set in logjet, so every row has the value "".
        return TRUE if test("") != negate else FALSE
    field = _field(m.name, m.pos)
    absent = Not(Leaf(field, Exists()))
    if coded(m.name):
        codes = codes_matching(m.name, lambda v: v is not None and test(v))
        flt = _codes(field, codes)
    elif m.op in ("=", "!="):
        flt = FALSE if not m.value else Leaf(field, Phrase(m.value.encode()))
    else:
        flt = Leaf(field, _regex(f"^(?:{m.value})$", m))
    if test(""):
        flt = absent if flt == FALSE else Or((flt, absent))
    return Not(flt) if negate else flt


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Regex:
    """Regexes are immutable and shared by threads; Grafana repeats the same ones (`=~".+"`)
    with every refresh, and a hyperscan compile costs milliseconds."""
    return Regex(pattern.encode())


def _regex(pattern: str, where: Matcher | LineFilter) -> Regex:
    try:
        return _compiled(pattern)
    except re.error as exc:
        name = where.name if isinstance(where, Matcher) else "the line filter"
        raise LogQLError(f"invalid regex {pattern!r} for {name}: {exc}", where.pos) from None


def _codes(field: Field, codes: list[int]) -> Filter:
    """Rows whose severity (or facility) code is one of `codes`: one range per run of codes."""
    runs: list[tuple[int, int]] = []
    for c in codes:
        if runs and runs[-1][1] == c - 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    if not runs:
        return FALSE
    return _or([Leaf(field, Range(lo=a, hi=b)) for a, b in runs])


def _line_filter(f: LineFilter) -> Filter:
    alternatives: list[Filter] = []
    for value in f.values:
        if f.op in ("|=", "!="):
            if not value:
                return FALSE if f.op == "!=" else TRUE  # every line contains ""
            alternatives.append(Leaf(MESSAGE_FIELD, _regex(re.escape(value), f)))
        else:
            try:
                matches_empty = re.compile(value).search("") is not None
            except re.error as exc:
                raise LogQLError(f"invalid regex {value!r} in the line filter: {exc}", f.pos) from None
            if matches_empty:
                return FALSE if f.op == "!~" else TRUE
            alternatives.append(Leaf(MESSAGE_FIELD, _regex(value, f)))
    flt = _or(alternatives)
    return Not(flt) if f.op in ("!=", "!~") else flt


def visible(name: str, parsed: bool) -> bool:
    """Whether a label name has values at this point of a pipeline: extracted keys only after
    `| json` or `| logfmt` (as Loki's parsed labels), columns always."""
    return parsed or field_of(name).kind != KV


def _label_expr(e: LabelExpr, parsed: bool) -> Filter:
    if isinstance(e, Matcher):
        if not visible(e.name, parsed):
            return TRUE if _value_test(e)("") != (e.op in ("!=", "!~")) else FALSE
        return matcher_filter(e)
    if isinstance(e, NumberFilter):
        return _number_filter(e) if visible(e.name, parsed) else FALSE
    if isinstance(e, LabelAnd):
        return _and([_label_expr(c, parsed) for c in e.children])
    if isinstance(e, LabelOr):
        return Or(tuple(_label_expr(c, parsed) for c in e.children))
    raise AssertionError(e)


def _number_filter(f: NumberFilter) -> Filter:
    if f.name.startswith("__") and f.name.endswith("__"):
        return FALSE
    field = _field(f.name, f.pos)
    if field.kind == MESSAGE:
        raise LogQLError("the message is not a number", f.pos)
    v = int(f.value) if f.value.is_integer() and abs(f.value) < 2**53 else f.value
    if f.op == "!=":
        return Or((Leaf(field, Range(hi=v, hi_incl=False)), Leaf(field, Range(lo=v, lo_incl=False))))
    rng = {
        "==": Range(lo=v, hi=v),
        ">": Range(lo=v, lo_incl=False),
        ">=": Range(lo=v),
        "<": Range(hi=v, hi_incl=False),
        "<=": Range(hi=v),
    }[f.op]
    return Leaf(field, rng)
