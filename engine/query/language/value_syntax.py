"""The value half of the filter grammar: comparison literals, exact values, regexes, and the
spellings that read like calls or label selectors (LogsQL's): `i(...)`, `in(...)`,
`range(...)` and the stream filter `{label="value", ...}`. parser.py decides where a value
starts; this module reads it and builds the leaf.
"""

from __future__ import annotations

import datetime as dt
import re

from engine.query.field_names import MESSAGE, TIME, U8, Field, number_for_name, resolve
from engine.query.field_eval import Leaf
from engine.query.filters.base import Filter, Predicate
from engine.query.filters.boolean import All, And, Not, Or
from engine.query.filters.exact import Exact
from engine.query.filters.exists import Exists
from engine.query.filters.prefix import Prefix
from engine.query.filters.range import Range
from engine.query.filters.regex import Regex
from engine.query.filters.word import Word
from engine.query.language.lexer import QUOTES
from engine.query.language.stage_syntax import NAME_RE
from engine.query.language.transform_syntax import TransformSyntax
from engine.units import parse_time_ns
from native_kernels.numbers import parse_number

# A name right before `(` (or `range[`) is a call, never a word followed by a group.
CALL_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)([(\[])")
CALLS = "i(), in(), range()"
# LogsQL calls logjet has no spelling for, with what to write instead.
_INSTEAD = {
    "seq": 'a phrase ("a b") or words in any order (a AND b)',
    "contains_all": "words joined by AND",
    "contains_any": "words joined by OR",
    "exact": "field:=value",
    "re": 'field:~"regex"',
}
_INFINITE = {"inf", "+inf", "-inf"}
# An RFC 3339 time cut short after any part: `_time:2026-11-22` is that whole day.
_PERIOD_RE = re.compile(
    r"(\d{4})-(\d{2})(?:-(\d{2})(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?)?"
    r"([Zz]|[+-]\d{2}:\d{2})?"
)
# Characters that end a list item, a range bound or a stream filter value when it is bare.
_ITEM_END = set(' \t\r\n,()[]{}|"')


class ValueSyntax(TransformSyntax):
    """Values, leaves and the call spellings; the boolean structure is parser.py's."""

    def leaf(self, field: Field, pred: Predicate, pos: int) -> Filter:
        if field.kind == TIME and not isinstance(pred, (Range, Exists)):
            self.error(f"{field.name} takes a time, a range or a comparison", pos)
        return Leaf(field, pred)

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

    def exact(self, field: Field, text: bytes, pos: int, prefix: bool = False, ignore_case: bool = False) -> Filter:
        """`field:=text`: the whole value is the text (starts with it when `prefix`). A number
        field compares as a number; an empty text means "no value", as in LogsQL."""
        if field.kind in (TIME, U8):
            if prefix:
                self.error(f"{field.name} takes a number, not a prefix", pos)
            v = self.literal(field, text.decode("utf-8", "replace"), pos)
            return self.leaf(field, Range(lo=v, hi=v), pos)
        if not text and not prefix:
            return Not(Leaf(field, Exists()))
        return self.leaf(field, Exact(text, prefix, ignore_case), pos)

    def make_regex(self, pattern: bytes, pos: int) -> Regex:
        try:
            return Regex(pattern)
        except re.error as exc:
            self.error(f"bad regex: {exc.msg}", pos)

    def regex_operand(self, field: Field, start: int) -> Filter:
        """`~"re"` or `~re` (after the `~`): LogsQL's regex filter, a search like /re/."""
        pos = self.i
        c = self.peek()
        if c and c in QUOTES:
            pattern = self.quoted(keep_escapes=True)
        else:
            pattern = self.bare().encode()
            if not pattern:
                self.error('expected a regex after ~, e.g. ~"err|warn"')
        self.end_of_value("the regex")
        return self.leaf(field, self.make_regex(pattern, pos), start)

    def item(self) -> str:
        """A bare list item, range bound or label value: up to whitespace or a separator."""
        start = self.i
        while self.i < self.n and self.s[self.i] not in _ITEM_END:
            self.i += 1
        return self.s[start : self.i]

    def _text_item(self, what: str) -> tuple[bytes, int]:
        self.ws()
        pos = self.i
        c = self.peek()
        text = self.quoted() if c and c in QUOTES else self.item().encode()
        if not text and not (c and c in QUOTES):
            self.error(f"expected {what}")
        return text, pos

    # --- time ---------------------------------------------------------------------------------
    @staticmethod
    def time_period(text: str) -> tuple[int, int] | None:
        """[start, end) in ns of the period an RFC 3339 time cut short names: a month, a day, an
        hour, a minute, a second, or as many fraction digits as are written (UTC unless it says
        otherwise); None when `text` is not one."""
        m = _PERIOD_RE.fullmatch(text)
        if m is None:
            return None
        year, month, day, hour, minute, second, frac, zone = m.groups()
        tz = dt.timezone.utc
        if zone and zone not in "Zz":
            sign = -1 if zone[0] == "-" else 1
            tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        try:
            start = dt.datetime(
                int(year), int(month), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz
            )
        except ValueError:
            return None
        if day is None:
            nxt = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
            return _ns(start), _ns(nxt)
        lo = _ns(start) + (int(frac.ljust(9, "0")) if frac else 0)
        unit = 86400 if hour is None else 3600 if minute is None else 60 if second is None else 1
        width = unit * 10**9 if frac is None else 10 ** (9 - len(frac))
        return lo, lo + width

    # --- calls ------------------------------------------------------------------------------
    def call(self, field: Field, m: re.Match[str], start: int) -> Filter:
        """`name(` or `range[` at the cursor (matched by CALL_RE)."""
        name = m.group(1)
        self.i = m.end()
        fn = name.lower()
        if fn == "i" and m.group(2) == "(":
            flt = self._any_case(field, start)
        elif fn == "in" and m.group(2) == "(":
            flt = self._one_of(field)
        elif fn == "range":
            flt = self._range(field, m.group(2), start)
        else:
            instead = f"; write {_INSTEAD[fn]} instead" if fn in _INSTEAD else ""
            self.error(
                f"unknown function {name}() (logjet knows {CALLS}){instead}; to search for the text "
                f'"{name}(", quote it, or put a space before "(" to group',
                start,
            )
        self.end_of_value(f"{name}(...)")
        return flt

    def text_operand(self) -> tuple[bytes, bool]:
        """A quoted string or a bare word, and whether a `*` ends it (a prefix)."""
        c = self.peek()
        if c and c in QUOTES:
            text = self.quoted()
            prefix = self.peek() == "*"
            self.i += prefix
            return text, prefix
        word = self.bare()
        prefix = word.endswith("*")
        return (word[:-1] if prefix else word).encode(), prefix

    def list_goes_on(self, close: str, message: str) -> bool:
        """After a list item: True at `,` (taken), False at `close` (taken), else the error."""
        self.ws()
        if self.peek() == ",":
            self.i += 1
            return True
        if self.peek() != close:
            self.error(message)
        self.i += 1
        return False

    def _any_case(self, field: Field, start: int) -> Filter:
        """`i(word)`, `i("phrase")`, `i(prefix*)`: the same test in any ASCII case."""
        self.ws()
        pos = self.i
        text, prefix = self.text_operand()
        if not text:
            self.error('i() takes a word, a phrase or a prefix: i(error), i("Failed password"), i(err*)', pos)
        self.expect(")", "')' to close i(")
        if field.kind == MESSAGE:
            # Words on the message are in any case already; a phrase as a word is the same
            # test (token-aligned ends) folded.
            return Leaf(field, Prefix(text) if prefix else Word(text))
        return self.exact(field, text, pos, prefix, ignore_case=True)

    def _one_of(self, field: Field) -> Filter:
        """`in(a, "b c", ...)`: the whole value is one of these."""
        leaves: list[Filter] = []
        while True:
            text, pos = self._text_item("a value in in(...)")
            leaves.append(self.exact(field, text, pos))
            if not self.list_goes_on(
                ")", 'in() takes values separated by commas, e.g. in("error", "fatal") (no subqueries)'
            ):
                break
        return leaves[0] if len(leaves) == 1 else Or(tuple(leaves))

    def _range(self, field: Field, opening: str, start: int) -> Filter:
        """`range(lo, hi)`, bounds excluded; `[` or `]` includes one. `inf` leaves it open."""
        lo = self._bound(field)
        self.expect(",", "',' between the bounds of range()")
        hi = self._bound(field)
        self.ws()
        close = self.peek()
        if close not in (")", "]") or not close:
            self.error("expected ')' or ']' to close range(")
        self.i += 1
        return self.leaf(field, Range(lo, hi, opening == "[", close == "]"), start)

    def _bound(self, field: Field) -> int | float | None:
        self.ws()
        pos = self.i
        text = self.item()
        return None if text.lower() in _INFINITE else self.literal(field, text, pos)

    # --- LogsQL stream filter -----------------------------------------------------------------
    def stream_filter(self) -> Filter:
        """`{app="nginx", host=~"web-.*"}` at the cursor: `=`, `!=`, `=~` and `!~` on fields, the
        regexes matching whole values (as Prometheus label matchers do)."""
        self.i += 1
        parts: list[Filter] = []
        self.ws()
        if self.peek() == "}":
            self.i += 1
            return All()
        while True:
            self.ws()
            m = NAME_RE.match(self.s, self.i)
            name = self.quoted().decode() if self.peek() == '"' else (m.group() if m else "")
            if m and self.peek() != '"':
                self.i = m.end()
            if not name:
                self.error('expected a field name in the stream filter, e.g. {app="nginx"}')
            self.ws()
            op = next((o for o in ("=~", "!~", "!=", "=") if self.s.startswith(o, self.i)), "")
            if not op:
                self.error("expected =, !=, =~ or !~ after the field name")
            self.i += len(op)
            self.ws()
            vpos = self.i
            regex = op.endswith("~")
            c = self.peek()
            value = self.quoted(keep_escapes=regex) if c and c in QUOTES else self.item().encode()
            field = resolve(name)
            part = (
                self.leaf(field, self.make_regex(b"\\A(?:" + value + b")\\Z", vpos), vpos)
                if regex
                else self.exact(field, value, vpos)
            )
            parts.append(Not(part) if op.startswith("!") else part)
            if not self.list_goes_on("}", "expected ',' or '}' in the stream filter"):
                break
        self.end_of_value("the stream filter")
        return parts[0] if len(parts) == 1 else And(tuple(parts))


def _ns(t: dt.datetime) -> int:
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
