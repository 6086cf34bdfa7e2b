"""The stage half of the query grammar: what follows each `|` (see parser.py for the whole
grammar). Builds the stage objects of the engine.query.stages modules.

    stats    := stats [by] (g, ...) func [[as] name], ...  |  stats func [[as] name], ... [by (g, ...)]
              | func(...) ...                               (`stats` left out, as LogsQL allows)
    g        := field | _time:STEP                          (a time bucket: STEP a duration or
                                                             second, minute, hour, day, week)
    sort     := (sort | order) [by] (field [asc|desc], ...) [asc|desc] [limit N]
    uniq     := uniq [by] (g, ...) [with hits] [limit N]
    top      := top [N] by (g, ...)

A trailing `desc` reverses the whole order; `sort ... limit N` is `sort ... | limit N`. The
stages that make fields (extract, unpack_json, math, filter, ...) are transform_syntax.py's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, TypeVar

from engine.query.field_names import TIME, Field, resolve
from engine.query.language.lexer import Scanner
from engine.query.stages.base import Stage
from engine.query.stages.field_list import Fields
from engine.query.stages.histogram import Histogram
from engine.query.stages.limit import Limit
from engine.query.stages.sort import Sort
from engine.query.stages.stats import FUNCTIONS, StatFunc, Stats
from engine.query.stages.top import DEFAULT_N, Top
from engine.query.stages.uniq import Uniq
from engine.query.values import GroupBy, TimeBucket
from engine.units import parse_duration_ns
from native_kernels.numbers import parse_number

if TYPE_CHECKING:
    from engine.query.filters.base import Filter

NAME_RE = re.compile(r"[\w.@\-]+")
STAGES = (
    "stats, histogram, sort, limit, head, fields, top, uniq, extract, extract_regexp, unpack_json, "
    "unpack_logfmt, math or filter"
)
# Stages transform_syntax.py parses.
TRANSFORM_NAMES = ("extract", "extract_regexp", "unpack_json", "unpack_logfmt", "math", "filter", "where")
# Bucket steps by name, as LogsQL spells them; calendar months and years are not fixed steps.
_STEP_NAMES = {"nanosecond": 1, "microsecond": 1_000, "millisecond": 10**6, "second": 10**9}
_STEP_NAMES |= {"minute": 60 * 10**9, "hour": 3600 * 10**9, "day": 86400 * 10**9, "week": 7 * 86400 * 10**9}
_COUNT_RE = re.compile(r"\d+")
_QUANTILE_RE = re.compile(r"[0-9.]+")

_Item = TypeVar("_Item")


class StageParser(Scanner):
    """Stage grammar: `stage()` parses one stage, the `|` already taken."""

    def stage(self) -> Stage:
        self.ws()
        pos = self.i
        m = NAME_RE.match(self.s, self.i)
        if m is None:
            self.error(f"expected a stage after '|' ({STAGES})")
        name = m.group().lower()
        self.i = m.end()
        if name == "stats":
            return self.stats(pos)
        if name in FUNCTIONS and self.peek() == "(":  # LogsQL's `| count()`: stats left out
            self.i = pos
            return self.stats(pos)
        if name == "histogram":
            return self.histogram(pos)
        if name in ("sort", "order"):
            return self.sort(pos)
        if name in ("limit", "head"):
            return Limit(self.count(f"{name} needs a number of rows"), position=pos)
        if name == "fields":
            return Fields(tuple(self.name_list()), position=pos)
        if name == "top":
            self.ws()
            n = self.count("") if self.peek().isdigit() else DEFAULT_N
            self.by_keyword("top N by (field, ...)")
            return Top(n, tuple(self.group_list()), position=pos)
        if name == "uniq":
            return self.uniq(pos)
        if name in TRANSFORM_NAMES:
            return self.transform(name, pos)
        self.error(f"unknown stage {name!r} (expected {STAGES})", pos)

    def transform(self, name: str, pos: int) -> Stage:
        """A stage that makes fields or drops rows one at a time (transform_syntax.py)."""
        raise NotImplementedError

    def or_expr(self, field: Field | None) -> Filter:
        """A filter (parser.py), for `| filter` and `if (...)`."""
        raise NotImplementedError

    def stage_tail(self, stage: Stage) -> list[Stage]:
        """What may follow a stage before the next `|`: LogsQL's `sort ... limit N`."""
        if isinstance(stage, Sort):
            if self.word_is("limit"):
                pos = self.i
                self.i += len("limit")
                return [Limit(self.count("limit needs a number of rows"), position=pos)]
            for word in ("offset", "partition", "rank"):
                if self.word_is(word):
                    self.error(f"sort ... {word} is not supported (only sort ... limit N)")
        return []

    def count(self, message: str) -> int:
        self.ws()
        m = _COUNT_RE.match(self.s, self.i)
        if not m or not self.at_delim(m.end() - self.i):
            self.error(message or "expected a whole number")
        self.i = m.end()
        return int(m.group())

    def by_keyword(self, usage: str) -> None:
        if not self.word_is("by"):
            self.error(f"expected 'by' ({usage})")
        self.i += 2

    def field_name(self) -> str:
        """A field or result name: bare, quoted, or a function call such as count()."""
        self.ws()
        if self.peek() == '"':
            return self.quoted().decode()
        m = NAME_RE.match(self.s, self.i)
        if not m:
            self.error("expected a field name")
        self.i = m.end()
        if self.peek() == "(" and m.group().lower() in FUNCTIONS:
            self.i = m.start()
            return self.stat_func().default_name
        return m.group()

    def name_list(self, parens: bool = False) -> list[str]:
        """`f1, f2, ...`, in parentheses when `parens` (else they are optional)."""
        return self._list(self.field_name, parens)

    def group_list(self) -> list[GroupBy]:
        """`(f1, _time:1m, ...)`: the fields a stage groups by, time buckets among them."""
        return self._list(self._group_key, parens=True)

    def _group_key(self) -> GroupBy:
        pos = self.i
        name = self.field_name()
        field = resolve(name)
        if self.peek() != ":":
            return field
        self.i += 1
        if field.kind != TIME:
            self.error(f"buckets are only for _time and _recv, not {name} (write {name} alone)", pos)
        step_pos = self.i
        m = NAME_RE.match(self.s, self.i)
        text = m.group() if m else ""
        self.i = m.end() if m else self.i
        step = _STEP_NAMES.get(text.lower())
        if step is None:
            try:
                step = parse_duration_ns(text)
            except ValueError as exc:
                self.error(f"{exc}; calendar months and years are not supported", step_pos)
        if step <= 0:
            self.error("the bucket step must be positive", step_pos)
        return TimeBucket(field, step)

    def sort_key_list(self) -> list[tuple[str, bool]]:
        """`f1 [asc|desc], ...`: (field name, descending) each."""
        return self._list(self._sort_key, parens=False)

    def _sort_key(self) -> tuple[str, bool]:
        name = self.field_name()
        desc = False
        if self.word_is("desc"):
            self.i += 4
            desc = True
        elif self.word_is("asc"):
            self.i += 3
        return name, desc

    def _list(self, item: Callable[[], _Item], parens: bool) -> list[_Item]:
        self.ws()
        opened = self.peek() == "("
        if opened:
            self.i += 1
        elif parens and not opened:
            self.error("expected '(' and a list of fields")
        out = []
        while True:
            out.append(item())
            self.ws()
            if self.peek() != ",":
                break
            self.i += 1
        if opened:
            self.expect(")", "')' to close the field list")
        return out

    def stats(self, pos: int) -> Stats:
        by: list[GroupBy] = []
        if self.word_is("by"):
            self.i += 2
            by = self.group_list()
        elif self.peek() == "(":  # LogsQL leaves `by` out: stats (host) count()
            by = self.group_list()
        funcs = []
        while True:
            f = self.stat_func()
            if self.word_is("as"):
                self.i += 2
                f = StatFunc(f.fn, f.field, f.q, self.field_name())
            elif self._result_name_next():  # LogsQL: `as` may be left out
                f = StatFunc(f.fn, f.field, f.q, self.field_name())
            funcs.append(f)
            self.ws()
            if self.peek() != ",":
                break
            self.i += 1
        if self.word_is("by"):
            if by:
                self.error("stats takes one 'by' list")
            self.i += 2
            by = self.group_list()
        return Stats(tuple(funcs), tuple(by), position=pos)

    def _result_name_next(self) -> bool:
        """A result name follows a stats function without `as` (not `by`, `,`, `|` or the end)."""
        self.ws()
        c = self.peek()
        if not c or c in ",|)" or self.word_is("by"):
            return False
        return c == '"' or NAME_RE.match(self.s, self.i) is not None

    def stat_func(self) -> StatFunc:
        self.ws()
        pos = self.i
        m = NAME_RE.match(self.s, self.i)
        fn = m.group().lower() if m else ""
        if m is None or fn not in FUNCTIONS:
            self.error(f"expected a stats function ({', '.join(FUNCTIONS)})", pos)
        self.i = m.end()
        self.expect("(", f"'(' after {fn}")
        self.ws()
        q = None
        field: Field | None = None
        if fn == "quantile":
            qpos = self.i
            qm = _QUANTILE_RE.match(self.s, self.i)
            q = parse_number(qm.group().encode()) if qm else None
            if qm is None or q is None or not 0 <= q <= 1:
                self.error("quantile needs a number from 0 to 1 first, e.g. quantile(0.99, duration_ms)", qpos)
            self.i = qm.end()
            self.expect(",", "',' after the quantile")
        if fn == "count":
            if self.peek() != ")":
                self.error("count() takes no field")
        else:
            self.ws()
            name_pos = self.i
            m = NAME_RE.match(self.s, self.i) if self.peek() != '"' else None
            name = self.quoted().decode() if self.peek() == '"' else (m.group() if m else "")
            if m:
                self.i = m.end()
            if not name:
                self.error(f"{fn}() needs a field", name_pos)
            field = resolve(name)
        self.expect(")", f"')' to close {fn}(")
        return StatFunc(fn, field, q)

    def histogram(self, pos: int) -> Histogram:
        self.expect("(", "'(' after histogram, e.g. histogram(1m)")
        self.ws()
        step_pos = self.i
        while self.i < self.n and self.s[self.i] not in ")," and not self.s[self.i].isspace():
            self.i += 1
        try:
            step = parse_duration_ns(self.s[step_pos : self.i])
        except ValueError as exc:
            self.error(str(exc), step_pos)
        if step <= 0:
            self.error("the histogram step must be positive", step_pos)
        self.ws()
        sum_bytes = False
        if self.peek() == ",":
            self.i += 1
            if not self.word_is("bytes"):
                self.error("expected 'bytes' after the step, e.g. histogram(1m, bytes)")
            self.i += 5
            sum_bytes = True
        self.expect(")", "')' to close histogram(")
        by: list[str] = []
        if self.word_is("by"):
            self.i += 2
            by = self.name_list(parens=True)
        return Histogram(step, tuple(resolve(b) for b in by), sum_bytes, position=pos)

    def sort(self, pos: int) -> Sort:
        if self.word_is("by"):
            self.i += 2
        elif self.peek() != "(":
            self.error("expected 'by' (sort by (field [desc], ...))")
        keys = self.sort_key_list()
        if self.word_is("desc"):  # LogsQL: a trailing desc reverses the whole order
            self.i += 4
            keys = [(name, not desc) for name, desc in keys]
        elif self.word_is("asc"):
            self.i += 3
        return Sort(tuple(keys), position=pos)

    def uniq(self, pos: int) -> Uniq:
        if self.word_is("by"):
            self.i += 2
        by = self.group_list()
        hits = self.word_is("with")
        if hits:
            self.i += 4
            if not self.word_is("hits"):
                self.error("expected 'hits' after 'with' (uniq by (field, ...) with hits)")
            self.i += 4
        limit = None
        if self.word_is("limit"):
            self.i += 5
            limit = self.count("limit needs a number of combinations")
        return Uniq(tuple(by), hits, limit, position=pos)
