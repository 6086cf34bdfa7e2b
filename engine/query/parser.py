"""The query language → a `Query` (filter tree + stages); hand-written recursive descent.

    query    := [or] ( "|" stage )*                     an empty filter matches every row
    or       := and ( OR and )*
    and      := unary ( [AND] unary )*                  side by side means AND
    unary    := (NOT | "-" | "!") unary | "(" or ")" | term
    term     := "*" | [field ":"] value
    value    := word | word"*" | "phrase" | "phrase"* | /regex/[i] | "*" | "(" or ")"
              | (">" | ">=" | "<" | "<=" | "=") literal | "[" literal TO literal "]"
    stage    := stats func [as name] ("," func [as name])* [by (f, ...)]   (by may come first)
              | histogram(STEP) | sort by (f [asc|desc], ...) | limit N | head N
              | fields f, ... | top [N] by (f, ...)

AND, OR, NOT, TO, `as` and `by` are keywords in any case; quote them to search for them. A
bare word runs to whitespace or one of `( ) | "`; a `:` in it splits field and value (the value
may hold more colons: `source:10.0.0.1:514`). Field-specific meanings: see fields.py and the
filter modules. Every error is a `QueryError` with the 0-based position of the text to blame.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from engine.query.errors import QueryError
from engine.query.fields import KV, MESSAGE, TIME, U8, Field, number_for_name, resolve
from engine.query.filter_base import Filter, Leaf
from engine.query.filter_bool import All, And, Not, Or
from engine.query.filter_exists import Exists
from engine.query.filter_phrase import Phrase
from engine.query.filter_prefix import Prefix
from engine.query.filter_range import Range
from engine.query.filter_regex import Regex
from engine.query.filter_word import Word
from engine.query.stage_base import Stage
from engine.query.stage_fields import Fields
from engine.query.stage_histogram import Histogram
from engine.query.stage_limit import Limit
from engine.query.stage_sort import Sort
from engine.query.stage_stats import FUNCTIONS, StatFunc, Stats
from engine.query.stage_top import DEFAULT_N, Top
from engine.units import parse_duration_ns, parse_time_ns
from native_kernels.numbers import parse_number

MESSAGE_FIELD = resolve("message")
_DELIMS = set(" \t\r\n()|\"")
_NAME_RE = re.compile(r"[A-Za-z0-9_.@\-]+")
_KEYWORDS = {"and", "or", "not"}


@dataclass(frozen=True)
class Query:
    filter: Filter
    stages: tuple[Stage, ...]


def parse(text: str) -> Query:
    """Parse a query; raises QueryError."""
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.n = len(text)

    # --- helpers -----------------------------------------------------------------------------
    def error(self, message: str, pos: int | None = None):
        raise QueryError(message, self.i if pos is None else pos)

    def ws(self) -> None:
        while self.i < self.n and self.s[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def at_delim(self, k: int = 0) -> bool:
        j = self.i + k
        return j >= self.n or self.s[j] in _DELIMS

    def bare(self) -> str:
        start = self.i
        while self.i < self.n and self.s[self.i] not in _DELIMS:
            self.i += 1
        return self.s[start:self.i]

    def keyword_at(self) -> str | None:
        """The keyword (and/or/not) starting here, if the bare word here is one."""
        j = self.i
        while j < self.n and self.s[j] not in _DELIMS:
            j += 1
        word = self.s[self.i:j].lower()
        return word if word in _KEYWORDS else None

    def expect(self, ch: str, what: str) -> None:
        self.ws()
        if self.peek() != ch:
            self.error(f"expected {what}" + (f", found {self.peek()!r}" if self.peek() else " before the end"))
        self.i += 1

    # --- filter ------------------------------------------------------------------------------
    def query(self) -> Query:
        self.ws()
        flt: Filter = All() if self.i >= self.n or self.peek() == "|" else self.or_expr(None)
        self.ws()
        stages = []
        while self.peek() == "|":
            self.i += 1
            stages.append(self.stage())
            self.ws()
        if self.i < self.n:
            self.error(f"unexpected {self.peek()!r}" + (" (unbalanced parenthesis?)" if self.peek() == ")" else ""))
        return Query(flt, tuple(stages))

    def or_expr(self, field: Field | None) -> Filter:
        children = [self.and_expr(field)]
        while True:
            self.ws()
            if self.keyword_at() != "or":
                break
            self.i += 2
            children.append(self.and_expr(field))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self, field: Field | None) -> Filter:
        children = [self.unary(field)]
        while True:
            self.ws()
            if self.i >= self.n or self.peek() in ")|" or self.keyword_at() == "or":
                break
            if self.keyword_at() == "and":
                self.i += 3
            children.append(self.unary(field))
        return children[0] if len(children) == 1 else And(tuple(children))

    def unary(self, field: Field | None) -> Filter:
        self.ws()
        if self.i >= self.n or self.peek() in ")|":
            self.error("expected a filter" + (" after AND/OR/NOT" if self.i else ""))
        kw = self.keyword_at()
        if kw == "not":
            self.i += 3
            return Not(self.unary(field))
        if kw is not None:
            self.error(f"{kw.upper()} needs a filter before it")
        nxt = self.s[self.i + 1:self.i + 2]
        if self.peek() in "-!" and nxt and not nxt.isspace() and nxt not in ")|":
            self.i += 1
            return Not(self.unary(field))
        if self.peek() == "(":
            self.i += 1
            inner = self.or_expr(field)
            self.expect(")", "')'")
            return inner
        return self.term(field)

    def term(self, field: Field | None) -> Filter:
        start = self.i
        if self.peek() == "*" and self.at_delim(1):
            self.i += 1
            return All() if field is None else self.leaf(field, Exists(), start)
        if field is None and self.peek() not in "\"/":
            m = _NAME_RE.match(self.s, self.i)
            if m and m.end() < self.n and self.s[m.end()] == ":":
                self.i = m.end() + 1
                return self.value(resolve(m.group()), start)
        return self.value(field or MESSAGE_FIELD, start)

    def value(self, field: Field, field_pos: int) -> Filter:
        start = self.i
        c = self.peek()
        if c == "" or c.isspace() or c in ")|":
            self.error(f"expected a value after '{field.name}:'")
        if c == "(":
            self.i += 1
            inner = self.or_expr(field)
            self.expect(")", "')'")
            return inner
        if c == '"':
            text = self.quoted()
            if self.peek() == "*":
                self.i += 1
                return self.leaf(field, Prefix(text, ignore_case=False), start)
            return self.leaf(field, Phrase(text), start)
        if c == "/":
            return self.leaf(field, self.regex(), start)
        if c == "*" and self.at_delim(1):
            self.i += 1
            return self.leaf(field, Exists(), start)
        if c in "<>=":
            op = c
            self.i += 1
            if self.peek() == "=" and c != "=":
                op += "="
                self.i += 1
            lit_pos = self.i
            v = self.literal(field, self.bare(), lit_pos)
            rng = {">": Range(lo=v, lo_incl=False), ">=": Range(lo=v), "<": Range(hi=v, hi_incl=False),
                   "<=": Range(hi=v), "=": Range(lo=v, hi=v)}[op]
            return self.leaf(field, rng, start)
        if c == "[":
            return self.leaf(field, self.range(field), start)
        word = self.bare()
        if field.kind == TIME:
            return self.leaf(field, self.time_word(word, start), start)
        if word.endswith("*"):
            return self.leaf(field, Prefix(word[:-1].encode()), start)
        name_number = number_for_name(field, word)
        if name_number is not None:
            word = str(name_number)
        return self.leaf(field, Word(word.encode()), start)

    def leaf(self, field: Field, pred, pos: int) -> Filter:
        if field.kind == TIME and not isinstance(pred, (Range, Exists)):
            self.error(f"{field.name} takes a time, a range or a comparison", pos)
        return Leaf(field, pred)

    def quoted(self) -> bytes:
        start = self.i
        self.i += 1
        out = []
        while self.i < self.n:
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < self.n:
                nxt = self.s[self.i + 1]
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
                self.i += 2
                continue
            if c == '"':
                self.i += 1
                return "".join(out).encode()
            out.append(c)
            self.i += 1
        self.error("unterminated quoted string", start)

    def regex(self) -> Regex:
        start = self.i
        self.i += 1
        out = []
        while self.i < self.n:
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < self.n:
                out.append("/" if self.s[self.i + 1] == "/" else self.s[self.i:self.i + 2])
                self.i += 2
                continue
            if c == "/":
                self.i += 1
                pattern = "".join(out)
                if self.peek() == "i" and self.at_delim(1):
                    self.i += 1
                    pattern = "(?i)" + pattern
                try:
                    return Regex(pattern.encode())
                except re.error as exc:
                    pos = start + 1 + (exc.pos or 0) if exc.pos is not None else start
                    self.error(f"bad regex: {exc.msg}", pos)
            out.append(c)
            self.i += 1
        self.error("unterminated regex (missing closing '/')", start)

    def range(self, field: Field) -> Range:
        self.i += 1
        self.ws()
        lo_pos = self.i
        lo = self.range_literal()
        self.ws()
        if self.s[self.i:self.i + 2].lower() != "to" or not (self.at_delim(2) or self.s[self.i + 2:self.i + 3] == "]"):
            self.error("expected TO in a range [A TO B]")
        self.i += 2
        self.ws()
        hi_pos = self.i
        hi = self.range_literal()
        self.expect("]", "']' to close the range")
        a, b = self.literal(field, lo, lo_pos), self.literal(field, hi, hi_pos)
        return Range(lo=a, hi=b)

    def range_literal(self) -> str:
        start = self.i
        while self.i < self.n and not self.s[self.i].isspace() and self.s[self.i] not in "]()|\"":
            self.i += 1
        if self.i == start:
            self.error("expected a value in the range")
        return self.s[start:self.i]

    def literal(self, field: Field, text: str, pos: int) -> int | float:
        """A comparison bound: a time for _time/_recv, a number (or a name) otherwise."""
        if not text:
            self.error("expected a number after the comparison", pos)
        if field.kind == TIME:
            try:
                return parse_time_ns(text)
            except ValueError as exc:
                self.error(str(exc), pos)
        if field.kind == U8:
            named = number_for_name(field, text)
            if named is not None:
                return named
        n = parse_number(text.encode())
        if n is None:
            self.error(f"expected a number, found {text!r}", pos)
        return int(n) if n.is_integer() and abs(n) < 2 ** 53 else n

    def time_word(self, word: str, pos: int) -> Range:
        """`_time:5m` is the last five minutes; `_time:T` is exactly T."""
        if word and word[-1].isalpha():
            try:
                return Range(lo=time.time_ns() - parse_duration_ns(word))
            except ValueError:
                pass  # not a duration: a time such as 2026-11-22T10:00:00Z
        try:
            t = parse_time_ns(word)
        except ValueError as exc:
            self.error(str(exc), pos)
        return Range(lo=t, hi=t)

    # --- stages ------------------------------------------------------------------------------
    def stage(self) -> Stage:
        self.ws()
        pos = self.i
        m = _NAME_RE.match(self.s, self.i)
        name = m.group().lower() if m else ""
        if not name:
            self.error("expected a stage after '|' (stats, histogram, sort, limit, fields, top)")
        self.i = m.end()
        if name == "stats":
            return self.stats(pos)
        if name == "histogram":
            return self.histogram(pos)
        if name == "sort":
            return self.sort(pos)
        if name in ("limit", "head"):
            return Limit(self.count(f"{name} needs a number of rows"), position=pos)
        if name == "fields":
            return Fields(tuple(self.name_list(allow_desc=False)), position=pos)
        if name == "top":
            self.ws()
            n = self.count("") if self.peek().isdigit() else DEFAULT_N
            self.by_keyword("top N by (field, ...)")
            return Top(n, tuple(resolve(f) for f in self.name_list(allow_desc=False, parens=True)), position=pos)
        self.error(f"unknown stage {name!r} (expected stats, histogram, sort, limit, fields or top)", pos)

    def count(self, message: str) -> int:
        self.ws()
        m = re.compile(r"\d+").match(self.s, self.i)
        if not m or not self.at_delim(m.end() - self.i):
            self.error(message or "expected a whole number")
        self.i = m.end()
        return int(m.group())

    def word_is(self, word: str) -> bool:
        self.ws()
        j = self.i + len(word)
        return self.s[self.i:j].lower() == word and (j >= self.n or not (self.s[j].isalnum() or self.s[j] == "_"))

    def by_keyword(self, usage: str) -> None:
        if not self.word_is("by"):
            self.error(f"expected 'by' ({usage})")
        self.i += 2

    def field_name(self) -> str:
        """A field or result name: bare, quoted, or a function call such as count()."""
        self.ws()
        if self.peek() == '"':
            return self.quoted().decode()
        m = _NAME_RE.match(self.s, self.i)
        if not m:
            self.error("expected a field name")
        self.i = m.end()
        if self.peek() == "(" and m.group().lower() in FUNCTIONS:
            self.i = m.start()
            return self.stat_func().default_name
        return m.group()

    def name_list(self, allow_desc: bool, parens: bool = False) -> list:
        self.ws()
        opened = self.peek() == "("
        if opened:
            self.i += 1
        elif parens and not opened:
            self.error("expected '(' and a list of fields")
        out = []
        while True:
            name = self.field_name()
            if allow_desc:
                desc = False
                if self.word_is("desc"):
                    self.i += 4
                    desc = True
                elif self.word_is("asc"):
                    self.i += 3
                out.append((name, desc))
            else:
                out.append(name)
            self.ws()
            if self.peek() != ",":
                break
            self.i += 1
        if opened:
            self.expect(")", "')' to close the field list")
        return out

    def stats(self, pos: int) -> Stats:
        by: list = []
        if self.word_is("by"):
            self.i += 2
            by = self.name_list(allow_desc=False, parens=True)
        funcs = []
        while True:
            f = self.stat_func()
            if self.word_is("as"):
                self.i += 2
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
            by = self.name_list(allow_desc=False, parens=True)
        return Stats(tuple(funcs), tuple(resolve(b) for b in by), position=pos)

    def stat_func(self) -> StatFunc:
        self.ws()
        pos = self.i
        m = _NAME_RE.match(self.s, self.i)
        fn = m.group().lower() if m else ""
        if fn not in FUNCTIONS:
            self.error(f"expected a stats function ({', '.join(FUNCTIONS)})", pos)
        self.i = m.end()
        self.expect("(", f"'(' after {fn}")
        self.ws()
        q = None
        field = None
        if fn == "quantile":
            qpos = self.i
            qm = re.compile(r"[0-9.]+").match(self.s, self.i)
            q = parse_number(qm.group().encode()) if qm else None
            if q is None or not 0 <= q <= 1:
                self.error("quantile needs a number from 0 to 1 first, e.g. quantile(0.99, duration_ms)", qpos)
            self.i = qm.end()
            self.expect(",", "',' after the quantile")
        if fn == "count":
            if self.peek() != ")":
                self.error("count() takes no field")
        else:
            self.ws()
            name_pos = self.i
            m = _NAME_RE.match(self.s, self.i) if self.peek() != '"' else None
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
        while self.i < self.n and self.s[self.i] not in ")" and not self.s[self.i].isspace():
            self.i += 1
        try:
            step = parse_duration_ns(self.s[step_pos:self.i])
        except ValueError as exc:
            self.error(str(exc), step_pos)
        if step <= 0:
            self.error("the histogram step must be positive", step_pos)
        self.expect(")", "')' to close histogram(")
        return Histogram(step, position=pos)

    def sort(self, pos: int) -> Sort:
        self.by_keyword("sort by (field [desc], ...)")
        return Sort(tuple(self.name_list(allow_desc=True)), position=pos)


__all__ = ["Query", "QueryError", "parse", "KV", "MESSAGE"]
