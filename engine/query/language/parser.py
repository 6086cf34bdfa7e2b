"""The query language → a `Query` (filter tree + stages); hand-written recursive descent.

    query    := [or] ( "|" stage )*                     an empty filter matches every row
    or       := and ( OR and )*
    and      := unary ( [AND] unary )*                  side by side means AND
    unary    := (NOT | "-" | "!") unary | "(" or ")" | term
    term     := "*" | [field ":"] value
    value    := word | word"*" | "phrase" | "phrase"* | /regex/[i] | "*" | "(" or ")"
              | (">" | ">=" | "<" | "<=" | "=") literal | "[" literal TO literal "]"
    stage    := stats func [as name] ("," func [as name])* [by (f, ...)]   (by may come first)
              | histogram(STEP[, bytes]) [by (f, ...)] | sort by (f [asc|desc], ...)
              | limit N | head N
              | fields f, ... | top [N] by (f, ...)

AND, OR, NOT, TO, `as` and `by` are keywords in any case; quote them to search for them. A
bare word runs to whitespace or one of `( ) | "`; a `:` in it splits field and value (the value
may hold more colons: `source:10.0.0.1:514`). Field-specific meanings: see fields.py and the
filter modules. Every error is a `QueryError` with the 0-based position of the text to blame.
The grammar lives in three modules: this one (filters), stage_syntax.py (stages), lexer.py (characters).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from engine.query.errors import QueryError
from engine.query.field_names import TIME, U8, Field, number_for_name, resolve
from engine.query.field_eval import Leaf
from engine.query.filters.base import Filter, Predicate
from engine.query.filters.boolean import All, And, Not, Or
from engine.query.filters.exists import Exists
from engine.query.filters.phrase import Phrase
from engine.query.filters.prefix import Prefix
from engine.query.filters.range import Range
from engine.query.filters.regex import Regex
from engine.query.filters.word import Word
from engine.query.language.stage_syntax import NAME_RE, StageParser
from engine.query.stages.base import Stage
from engine.units import parse_duration_ns, parse_time_ns
from native_kernels.numbers import parse_number

MESSAGE_FIELD = resolve("message")


@dataclass(frozen=True)
class Query:
    filter: Filter
    stages: tuple[Stage, ...]


def parse(text: str) -> Query:
    """Parse a query; raises QueryError."""
    return _Parser(text).query()


class _Parser(StageParser):
    """The filter grammar; stages come from StageParser, scanning from Scanner."""

    def query(self) -> Query:
        self.ws()
        flt: Filter = All() if self.i >= self.n or self.peek() == "|" else self.or_expr(None)
        self.ws()
        stages: list[Stage] = []
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
        nxt = self.s[self.i + 1 : self.i + 2]
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
        if field is None and self.peek() not in '"/':
            m = NAME_RE.match(self.s, self.i)
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
            rng = {
                ">": Range(lo=v, lo_incl=False),
                ">=": Range(lo=v),
                "<": Range(hi=v, hi_incl=False),
                "<=": Range(hi=v),
                "=": Range(lo=v, hi=v),
            }[op]
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

    def leaf(self, field: Field, pred: Predicate, pos: int) -> Filter:
        if field.kind == TIME and not isinstance(pred, (Range, Exists)):
            self.error(f"{field.name} takes a time, a range or a comparison", pos)
        return Leaf(field, pred)

    def regex(self) -> Regex:
        start = self.i
        self.i += 1
        out = []
        while self.i < self.n:
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < self.n:
                out.append("/" if self.s[self.i + 1] == "/" else self.s[self.i : self.i + 2])
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
        if self.s[self.i : self.i + 2].lower() != "to" or not (
            self.at_delim(2) or self.s[self.i + 2 : self.i + 3] == "]"
        ):
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
        while self.i < self.n and not self.s[self.i].isspace() and self.s[self.i] not in ']()|"':
            self.i += 1
        if self.i == start:
            self.error("expected a value in the range")
        return self.s[start : self.i]

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
        return int(n) if n.is_integer() and abs(n) < 2**53 else n

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


__all__ = ["Query", "QueryError", "parse"]
