"""The grammar of the stages that make fields or drop rows one at a time (see stage_syntax.py
for the others):

    extract        := extract [if (F)] [from FIELD] "PATTERN" [from FIELD] [options]
    extract_regexp := extract_regexp [if (F)] [from FIELD] "REGEX" [from FIELD] [options]
    unpack_json    := unpack_json [if (F)] [from FIELD] [fields (a, ...)] [options]
    unpack_logfmt  := unpack_logfmt [if (F)] [from FIELD] [fields (a, ...)] [options]
    options        := result_prefix "P" | keep_original_fields | skip_empty_results, any order
    math           := math EXPR [as] NAME, ...               (EXPR: see stages/math_expr.py)
    filter         := (filter | where) F                     F: a filter, as before the first `|`

Anything else before the next `|` is refused, naming what the stage takes.
"""

from __future__ import annotations

import re

from engine.query.filters.base import Filter
from engine.query.language.stage_syntax import NAME_RE, StageParser
from engine.query.stages.base import Stage
from engine.query.stages.extract import BadPattern, Extract, compile_pattern
from engine.query.stages.extract_regexp import ExtractRegexp
from engine.query.stages.math_expr import FUNCTIONS, Call, Expr, Math, Num, Op, Ref
from engine.query.stages.row_filter import RowFilter
from engine.query.stages.transform import Output
from engine.query.stages.unpack_json import UnpackJson
from engine.query.stages.unpack_logfmt import UnpackLogfmt
from native_kernels.numbers import parse_number

_NUMBER_RE = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPTIONS = ("result_prefix", "keep_original_fields", "skip_empty_results")


class TransformSyntax(StageParser):
    def transform(self, name: str, pos: int) -> Stage:
        if name in ("filter", "where"):
            self.ws()
            if not self.peek() or self.peek() == "|":
                self.error(f"{name} needs a filter, e.g. | {name} status:>=500")
            return RowFilter(self.or_expr(None), position=pos)
        if name == "math":
            return self.math(pos)
        condition = self.condition()
        source = self.source()
        if name in ("extract", "extract_regexp"):
            self.ws()
            if not self.peek() or self.peek() not in "\"'`":
                self.error(f"{name} needs a quoted pattern, e.g. | {name} " + _EXAMPLES[name])
            text_pos = self.i
            text = self.quoted(keep_escapes=name == "extract_regexp").decode()
            if source is None:
                source = self.source()
            output = self.options(name, allow_names=False)[1]
            if name == "extract":
                try:
                    pattern = compile_pattern(text)
                except BadPattern as exc:
                    self.error(f"extract: {exc}", text_pos + 1 + exc.offset)
                return Extract(
                    pattern=pattern, source=source or "message", output=output, condition=condition, position=pos
                )
            try:
                regex = re.compile(text)
            except re.error as exc:
                self.error(f"extract_regexp: bad regex: {exc.msg}", text_pos + 1 + (exc.pos or 0))
            if not regex.groupindex:
                self.error("extract_regexp needs named groups, e.g. (?P<user>\\w+)", text_pos)
            return ExtractRegexp(
                regex=regex, source=source or "message", output=output, condition=condition, position=pos
            )
        names, output = self.options(name, allow_names=True)
        cls = UnpackJson if name == "unpack_json" else UnpackLogfmt
        return cls(names=names, source=source or "message", output=output, condition=condition, position=pos)

    def condition(self) -> Filter | None:
        """LogsQL's `if (filter)` after a stage's name."""
        if not self.word_is("if"):
            return None
        self.i += 2
        self.expect("(", "'(' after if")
        flt = self.or_expr(None)
        self.expect(")", "')' to close if (...)")
        return flt

    def source(self) -> str | None:
        if not self.word_is("from"):
            return None
        self.i += 4
        return self.field_name()

    def options(self, stage: str, allow_names: bool) -> tuple[tuple[str, ...], Output]:
        names: tuple[str, ...] = ()
        prefix, keep, skip = "", False, False
        while True:
            self.ws()
            if not self.peek() or self.peek() == "|":
                return names, Output(prefix, keep, skip)
            m = NAME_RE.match(self.s, self.i)
            word = m.group().lower() if m else ""
            if allow_names and word == "fields" and not names:
                self.i += len(word)
                names = tuple(self.name_list(parens=True))
            elif word == "result_prefix":
                self.i += len(word)
                self.ws()
                if not self.peek() or self.peek() not in "\"'`":
                    self.error('result_prefix needs a quoted prefix, e.g. result_prefix "req_"')
                prefix = self.quoted().decode()
            elif word == "keep_original_fields":
                self.i += len(word)
                keep = True
            elif word == "skip_empty_results":
                self.i += len(word)
                skip = True
            else:
                takes = ("fields (...), " if allow_names else "") + ", ".join(_OPTIONS)
                self.error(f"unexpected {self.s[self.i : self.i + 20]!r} in {stage} (it takes {takes}, then '|')")

    # --- math ---------------------------------------------------------------------------------
    def math(self, pos: int) -> Math:
        results: list[tuple[Expr, str]] = []
        while True:
            self.ws()
            if not self.peek() or self.peek() == "|":
                self.error("math needs an expression and a name, e.g. | math duration_ms / 1000 as secs")
            expr = self.math_default()
            if self.word_is("as"):
                self.i += 2
            self.ws()
            if not self.peek() or self.peek() in ",|":
                self.error("math needs a name for each result: math EXPR as NAME")
            results.append((expr, self.field_name()))
            self.ws()
            if self.peek() != ",":
                break
            self.i += 1
        self.ws()
        if self.peek() and self.peek() != "|":
            self.error(f"unexpected {self.peek()!r} in math (an operator is one of + - * / % ^)")
        return Math(tuple(results), position=pos)

    def math_default(self) -> Expr:
        expr = self.math_sum()
        while self.word_is("default"):
            self.i += len("default")
            expr = Op("default", (expr, self.math_sum()))
        return expr

    def math_sum(self) -> Expr:
        expr = self.math_product()
        while True:
            self.ws()
            op = self.peek()
            if op not in ("+", "-") or not op:
                return expr
            self.i += 1
            expr = Op(op, (expr, self.math_product()))

    def math_product(self) -> Expr:
        expr = self.math_unary()
        while True:
            self.ws()
            op = self.peek()
            if op not in ("*", "/", "%") or not op:
                return expr
            self.i += 1
            expr = Op(op, (expr, self.math_unary()))

    def math_unary(self) -> Expr:
        self.ws()
        if self.peek() == "-":
            self.i += 1
            return Op("neg", (self.math_unary(),))
        base = self.math_atom()
        self.ws()
        if self.peek() == "^":
            self.i += 1
            return Op("^", (base, self.math_unary()))
        return base

    def math_atom(self) -> Expr:
        self.ws()
        pos = self.i
        c = self.peek()
        if c == "(":
            self.i += 1
            expr = self.math_default()
            self.expect(")", "')' in the math expression")
            return expr
        if c.isdigit() or (c == "." and self.s[self.i + 1 : self.i + 2].isdigit()):
            m = _NUMBER_RE.match(self.s, self.i)
            assert m is not None
            self.i = m.end()
            stuck = NAME_RE.match(self.s, self.i)
            if stuck:
                word = self.s[pos : stuck.end()]
                self.error(f"{word!r} is not a number (durations and sizes are not supported in math)", pos)
            value = parse_number(m.group().encode())
            assert value is not None
            return Num(float(value))
        if c and c in "\"'`":
            return Ref(self.quoted().decode())
        m = NAME_RE.match(self.s, self.i)
        if m is None or m.group().lower() in ("as", "default"):
            self.error("expected a number, a field, a function or '(' in the math expression")
        self.i = m.end()
        if self.peek() != "(":
            return Ref(m.group())
        fn = m.group().lower()
        if fn not in FUNCTIONS:
            self.error(f"unknown math function {fn}() (known: {', '.join(FUNCTIONS)})", pos)
        self.i += 1
        args = [self.math_default()]
        self.ws()
        while self.peek() == ",":
            self.i += 1
            args.append(self.math_default())
            self.ws()
        self.expect(")", f"')' to close {fn}(")
        least, most = FUNCTIONS[fn][1], FUNCTIONS[fn][2]
        if len(args) < least or (most is not None and len(args) > most):
            want = f"{least}" if least == most else (f"{least} or more" if most is None else f"{least} to {most}")
            self.error(f"{fn}() takes {want} arguments, not {len(args)}", pos)
        return Call(fn, tuple(args))


_EXAMPLES = {"extract": '"user=<user> "', "extract_regexp": '"user=(?P<user>\\w+)"'}
