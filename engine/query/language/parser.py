"""The query language → a `Query` (filter tree + stages); hand-written recursive descent.

    query    := [or] ( "|" stage )*                     an empty filter matches every row
    or       := and ( OR and )*
    and      := unary ( [AND] unary )*                  side by side means AND
    unary    := (NOT | "-" | "!") unary | "(" or ")" | term
    term     := "*" | "{" selector "}" | [field ":"] value      field: a name or a quoted string
    value    := word | word"*" | "phrase" | "phrase"* | /regex/[i] | "*" | "(" or ")"
              | (">" | ">=" | "<" | "<=") literal | "[" literal (TO | ",") literal ("]" | ")")
              | "=" text | "=" "phrase"* | "~" regex | "!" value
              | i(text) | in(text, ...) | range(lo, hi)          (value_syntax.py)
    stage    := stats ... | histogram(STEP[, bytes]) [by (f, ...)] | sort ... | limit N | head N | fields f, ...
              | top [N] by (f, ...) | uniq by (f, ...) ...       (stage_syntax.py)

A quoted string is "double", 'single' or `backtick` quoted. AND, OR, NOT, TO, `as` and `by`
are keywords in any case; quote them to search for them. A bare word runs to whitespace or one
of `( ) | "`; a `:` in it splits field and value (the value may hold more colons:
`source:10.0.0.1:514`). `#` and a space start a comment up to the end of the line. Text that
would otherwise quietly mean something else is refused: a word or quoted string with more text
stuck to it (`foo"bar"`, `"a"b`), a word followed by `(`, `#word`, a duration compared with
`_time` (`_time:>5m`: LogsQL reads it as older than 5 minutes, a time as newer). Field-specific
meanings: see field_names.py and the filter modules. Every error is a `QueryError` with the
0-based position of the text to blame. The grammar lives in four modules: this one (filter
structure), value_syntax.py (values), stage_syntax.py (stages), lexer.py (characters).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from engine.query.errors import QueryError
from engine.query.field_eval import Leaf
from engine.query.field_names import TIME, Field, number_for_name, resolve
from engine.query.filters.base import Filter
from engine.query.filters.boolean import All, And, Not, Or
from engine.query.filters.exists import Exists
from engine.query.filters.phrase import Phrase
from engine.query.filters.prefix import Prefix
from engine.query.filters.range import Range
from engine.query.filters.regex import Regex
from engine.query.filters.word import Word
from engine.query.language.lexer import QUOTES
from engine.query.language.stage_syntax import NAME_RE
from engine.query.language.value_syntax import CALL_RE, ValueSyntax
from engine.query.stages.base import Stage
from engine.units import parse_duration_ns, parse_time_ns

MESSAGE_FIELD = resolve("message")


@dataclass(frozen=True)
class Query:
    filter: Filter
    stages: tuple[Stage, ...]


def parse(text: str) -> Query:
    """Parse a query; raises QueryError."""
    return _Parser(text).query()


class _Parser(ValueSyntax):
    """The filter grammar; values come from ValueSyntax, stages from StageParser, scanning from
    Scanner."""

    def query(self) -> Query:
        self.ws()
        flt: Filter = All() if self.i >= self.n or self.peek() == "|" else self.or_expr(None)
        self.ws()
        stages: list[Stage] = []
        while self.peek() == "|":
            self.i += 1
            stages.append(self.stage())
            stages.extend(self.stage_tail(stages[-1]))
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
        if self.peek() == "#":
            self.error("'#' starts a comment only before a space; to search for the text, quote it")
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
        c = self.peek()
        if c == "*" and self.at_delim(1):
            self.i += 1
            flt: Filter = All() if field is None else self.leaf(field, Exists(), start)
            self.end_of_value("'*'")
            return flt
        if field is None:
            if c == "{":
                return self.stream_filter()
            if c and c in QUOTES:  # "field name":value, or a phrase
                name = self.quoted().decode()
                if self.peek() == ":":
                    self.i += 1
                    return self.field_value(resolve(name), start)
                self.i = start
            elif c != "/":
                m = NAME_RE.match(self.s, self.i)
                if m and m.end() < self.n and self.s[m.end()] == ":":
                    self.i = m.end() + 1
                    return self.field_value(resolve(m.group()), start)
        return self.value(field or MESSAGE_FIELD, start)

    def field_value(self, field: Field, field_pos: int) -> Filter:
        """The value after `field:`; `_stream:` takes a stream filter."""
        if field.name == "_stream":
            if self.peek() != "{":
                self.error('_stream takes a stream filter, e.g. _stream:{app="nginx"}')
            return self.stream_filter()
        if field.name == "_stream_id":
            self.error('logjet has no stream ids: filter on the fields themselves, e.g. {app="nginx"}', field_pos)
        return self.value(field, field_pos)

    def value(self, field: Field, field_pos: int) -> Filter:
        flt = self._value(field, field_pos)
        if field.kind == TIME:
            flt = self.time_offset(flt)
        return flt

    def _value(self, field: Field, field_pos: int) -> Filter:
        start = self.i
        c = self.peek()
        if c == "" or c.isspace() or c in ")|":
            self.error(f"expected a value after '{field.name}:'")
        if c == "(":
            self.i += 1
            inner = self.or_expr(field)
            self.expect(")", "')'")
            return inner
        if c in QUOTES:
            text = self.quoted()
            if self.peek() == "*":
                self.i += 1
                self.end_of_value("the quoted prefix")
                return self.leaf(field, Prefix(text, ignore_case=False), start)
            self.end_of_value("the quoted string")
            if not text:  # LogsQL's empty value filter: the field has no value
                return Not(self.leaf(field, Exists(), start))
            return self.leaf(field, Phrase(text), start)
        if c == "/":
            flt = self.leaf(field, self.regex(), start)
            self.end_of_value("the regex")
            return flt
        if c == "*" and self.at_delim(1):
            self.i += 1
            self.end_of_value("'*'")
            return self.leaf(field, Exists(), start)
        if c == "~":
            self.i += 1
            return self.regex_operand(field, start)
        if c == "!":  # field:!=v, field:!~re, field:!v: the negation of what follows
            self.i += 1
            if not self.peek() or self.peek().isspace():
                self.error(f"expected a value after '{field.name}:!'")
            return Not(self._value(field, start))
        if c == "=":
            self.i += 1
            return self.exact_value(field, start)
        if c in "<>":
            op = c
            self.i += 1
            if self.peek() == "=":
                op += "="
                self.i += 1
            lit_pos = self.i
            bound = self.item()
            if field.kind == TIME and bound and bound[-1].isalpha() and _is_duration(bound):
                self.error(
                    f"_time:{op}{bound} is ambiguous (LogsQL reads it as an age): write {field.name}:{bound} "
                    f"for the last {bound}, or compare with a time such as {field.name}:>2026-01-01T00:00:00Z",
                    start,
                )
            v = self.literal(field, bound, lit_pos)
            self.end_of_value("the number")
            rng = {
                ">": Range(lo=v, lo_incl=False),
                ">=": Range(lo=v),
                "<": Range(hi=v, hi_incl=False),
                "<=": Range(hi=v),
            }[op]
            return self.leaf(field, rng, start)
        if c == "[":
            return self.leaf(field, self.range(field), start)
        call = CALL_RE.match(self.s, self.i)
        if call and (call.group(2) == "(" or call.group(1).lower() == "range"):
            return self.call(field, call, start)
        word = self.bare()
        self.end_of_value(repr(word))
        if field.kind == TIME:
            return self.leaf(field, self.time_word(word, start), start)
        if word.endswith("*"):
            return self.leaf(field, Prefix(word[:-1].encode()), start)
        name_number = number_for_name(field, word)
        if name_number is not None:
            word = str(name_number)
        return self.leaf(field, Word(word.encode()), start)

    def exact_value(self, field: Field, start: int) -> Filter:
        """After `field:=`: a quoted or bare text, the whole value; `="text"*` its start."""
        pos = self.i
        c = self.peek()
        text, prefix = self.text_operand()
        if not text and not prefix and not (c and c in QUOTES):
            self.error(f"expected a value after '{field.name}:='")
        self.end_of_value("the value")
        return self.exact(field, text, pos, prefix)

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
        """`[A TO B]`, bounds included; LogsQL's `[A, B]` and `[A, B)` (B excluded) too."""
        self.i += 1
        self.ws()
        lo_pos = self.i
        lo = self.range_literal()
        self.ws()
        comma = self.peek() == ","
        if comma:
            self.i += 1
        elif self.s[self.i : self.i + 2].lower() != "to" or not (
            self.at_delim(2) or self.s[self.i + 2 : self.i + 3] == "]"
        ):
            self.error("expected TO in a range [A TO B]")
        else:
            self.i += 2
        self.ws()
        hi_pos = self.i
        hi = self.range_literal()
        self.ws()
        close = self.peek()
        if close == "]" or (comma and close == ")"):
            self.i += 1
        else:
            self.error("expected ']' to close the range" + (" (or ')' to leave B out)" if comma else ""))
        self.end_of_value("the range")
        a, b = self.literal(field, lo, lo_pos), self.literal(field, hi, hi_pos)
        return Range(lo=a, hi=b, hi_incl=close == "]")

    def range_literal(self) -> str:
        text = self.item()
        if not text:
            self.error("expected a value in the range")
        return text

    def time_word(self, word: str, pos: int) -> Range:
        """`_time:5m` is the last five minutes; `_time:2026-11-22` that day (a time names the
        period its digits do, `_time:1700000000` that second); `_time:offset D` is everything
        up to D ago (with time_offset)."""
        if word.lower() == "offset":
            self.i = pos
            return Range()
        if word and word[-1].isalpha() and _is_duration(word):
            return Range(lo=time.time_ns() - parse_duration_ns(word))
        period = self.time_period(word)
        if period is None and word.isdigit():
            t = int(word) * 10**9
            period = (t, t + 10**9)
        if period is not None:
            return Range(lo=period[0], hi=period[1], hi_incl=False)
        try:
            t = parse_time_ns(word)
        except ValueError as exc:
            self.error(str(exc), pos)
        return Range(lo=t, hi=t)

    def time_offset(self, flt: Filter) -> Filter:
        """`_time:5m offset 1h`: LogsQL's shift of a time filter into the past."""
        if not (isinstance(flt, Leaf) and isinstance(flt.pred, Range) and self.word_is("offset")):
            return flt
        self.i += len("offset")
        self.ws()
        pos = self.i
        text = self.item()
        try:
            shift = parse_duration_ns(text)
        except ValueError as exc:
            self.error(f"offset: {exc}", pos)
        r = flt.pred
        now = time.time_ns()
        lo = None if r.lo is None else r.lo - shift
        hi = now - shift if r.hi is None else r.hi - shift
        return Leaf(flt.field, Range(lo, hi, r.lo_incl, r.hi_incl if r.hi is not None else True))


def _is_duration(text: str) -> bool:
    try:
        parse_duration_ns(text)
    except ValueError:
        return False
    return True


__all__ = ["Query", "QueryError", "parse"]
