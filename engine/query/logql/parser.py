"""LogQL → its parse tree (engine.query.logql.syntax); hand-written recursive descent over tokens.

    expr      := sum (("+" | "-") sum)*
    sum       := power (("*" | "/" | "%") power)*
    power     := unary ["^" power]                              (right associative)
    unary     := ("-" | "+") unary | primary
    primary   := NUMBER | "(" expr ")" | vector(NUMBER) | range_agg | vector_agg | log_query
    range_agg := RANGE_OP "(" log_query RANGE [offset DURATION] ")"        (the range may also
                 follow the selector, before the pipeline, or close a parenthesised log query)
    vector_agg:= VECTOR_OP [grouping] "(" [INT ","] expr ")" [grouping]
    grouping  := ("by" | "without") "(" [name ("," name)*] ")"
    log_query := "{" matcher ("," matcher)* "}" stage*
    stage     := ("|=" | "!=" | "|~" | "!~") STRING ("or" STRING)*
               | "|" ("json" | "logfmt" | "drop" names | "keep" names | label_filter)
    label_filter := or ([","] or)*                               (side by side means and)
    or        := and ("or" and)*
    and       := label ("and" label)*
    label     := "(" label_filter ")" | name ("=" | "!=" | "=~" | "!~") STRING
               | name ("==" | "=" | "!=" | ">" | ">=" | "<" | "<=") NUMBER

Whatever else LogQL has is recognised far enough to be refused by name (`line_format`, `unwrap`,
`label_replace`, comparisons between vectors, ...), so that the error says what is missing
rather than where the parser gave up. Operator precedence is Loki's (and so Prometheus').
"""

from __future__ import annotations

import re
from typing import Callable

from engine.query.logql.arithmetic import fold
from engine.query.logql.durations import DurationError, parse_duration_ns
from engine.query.logql.lexer import END, IDENT, NUMBER, OP, RANGE, STRING, UNIT_NUMBER, Token, tokenize
from engine.query.logql.syntax import (
    RANGE_OPS,
    VECTOR_OPS,
    BinOp,
    Expr,
    LabelAnd,
    LabelExpr,
    LabelFilter,
    LabelList,
    LabelOr,
    LineFilter,
    LogQLError,
    LogQuery,
    Matcher,
    Metric,
    Number,
    NumberFilter,
    Parser,
    RangeAgg,
    Stage,
    VectorAgg,
    VectorOf,
)

# Range functions logjet does not evaluate: every one but absent_over_time needs `| unwrap`.
UNWRAP_OPS = (
    "sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "stddev_over_time", "stdvar_over_time",
    "quantile_over_time", "first_over_time", "last_over_time", "rate_counter",
)  # fmt: skip
OTHER_FUNCS = ("absent_over_time", "label_replace", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc")
UNSUPPORTED_STAGES = {
    "line_format": "`| line_format` (logjet returns each row's message as the line)",
    "label_format": "`| label_format`",
    "unwrap": "`| unwrap` (range aggregations over extracted values)",
    "pattern": "`| pattern` (logjet extracts key=value pairs and JSON keys when it stores a row)",
    "regexp": "`| regexp` (logjet extracts key=value pairs and JSON keys when it stores a row)",
    "unpack": "`| unpack`",
    "decolorize": "`| decolorize`",
    "distinct": "`| distinct`",
}
MATCH_OPS = ("=", "!=", "=~", "!~")
NUMBER_OPS = ("==", "=", "!=", ">", ">=", "<", "<=")
LINE_OPS = ("|=", "!=", "|~", "!~")
_LABEL_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse(text: str) -> Expr:
    """Parse a LogQL query; raises LogQLError."""
    return _Parser(text).whole()


def parse_log_query(text: str) -> LogQuery:
    """A query that must be a log query (the tail, a label-values filter); raises LogQLError."""
    expr = parse(text)
    if not isinstance(expr, LogQuery):
        raise LogQLError("only a log query (a stream selector and a pipeline) is allowed here", 0)
    return expr


MAX_DEPTH = 64  # nested parentheses and aggregations: far beyond real queries, far from Python's stack


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.k = 0
        self.depth = 0

    def nest(self) -> None:
        """Enter one more level of nesting; refuse past MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LogQLError(f"the query nests more than {MAX_DEPTH} levels deep", self.tok.pos)

    # --- tokens --------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.k]

    def peek(self, ahead: int = 1) -> Token:
        return self.toks[min(self.k + ahead, len(self.toks) - 1)]

    def take(self) -> Token:
        t = self.toks[self.k]
        self.k = min(self.k + 1, len(self.toks) - 1)
        return t

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == OP and self.tok.text in ops

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == IDENT and self.tok.text in words

    def unexpected(self, expecting: str = "") -> LogQLError:
        t = self.tok
        what = {END: "$end", STRING: "STRING", NUMBER: "NUMBER", RANGE: "RANGE", UNIT_NUMBER: "DURATION"}.get(t.kind)
        shown = what or (t.text if t.kind == OP else "IDENTIFIER")
        tail = f", expecting {expecting}" if expecting else ""
        return LogQLError(f"syntax error: unexpected {shown}{tail}", t.pos)

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.unexpected(op)
        return self.take()

    def unsupported(self, what: str, pos: int) -> LogQLError:
        return LogQLError(f"{what} is not supported by logjet (see docs/grafana.md)", pos)

    # --- expressions ---------------------------------------------------------------------------
    def whole(self) -> Expr:
        expr = self.expr()
        if self.tok.kind != END:
            if self.is_op("==", "!=", ">", ">=", "<", "<=") or self.is_word("and", "or", "unless"):
                raise self.unsupported(f"the binary operator {self.tok.text!r}", self.tok.pos)
            raise self.unexpected()
        return expr

    def expr(self) -> Expr:
        self.nest()
        left = self.term()
        while self.is_op("+", "-"):
            op = self.operator()
            left = self.binop(op, left, self.term())
        self.depth -= 1
        return left

    def term(self) -> Expr:
        left = self.power()
        while self.is_op("*", "/", "%"):
            op = self.operator()
            left = self.binop(op, left, self.power())
        return left

    def power(self) -> Expr:
        left = self.unary()
        if self.is_op("^"):
            op = self.operator()
            return self.binop(op, left, self.power())
        return left

    def operator(self) -> Token:
        """The binary operator here; the vector matching that may follow it is refused."""
        op = self.take()
        if self.is_word("on", "ignoring", "group_left", "group_right", "bool"):
            raise self.unsupported(f"vector matching ({self.tok.text})", self.tok.pos)
        return op

    def binop(self, op: Token, left: Expr, right: Expr) -> Metric:
        if isinstance(left, LogQuery) or isinstance(right, LogQuery):
            raise LogQLError(f"a log query cannot be an operand of {op.text!r}: use a metric query", op.pos)
        if isinstance(left, Number) and isinstance(right, Number):
            return Number(fold(op.text, left.value, right.value), left.pos)
        return BinOp(op.text, left, right, op.pos)

    def unary(self) -> Expr:
        if self.is_op("-", "+"):
            op = self.take()
            inner = self.unary()
            if isinstance(inner, LogQuery):
                raise LogQLError("a log query cannot be negated", op.pos)
            if op.text == "+":
                return inner
            if isinstance(inner, Number):
                return Number(-inner.value, op.pos)
            return BinOp("*", Number(-1.0, op.pos), inner, op.pos)
        return self.primary()

    def primary(self) -> Expr:
        t = self.tok
        if t.kind == NUMBER:
            self.take()
            return Number(float(t.text), t.pos)
        if self.is_op("{"):
            return self.log_query()
        if self.is_op("("):
            self.take()
            inner = self.expr()
            self.expect_op(")")
            if self.tok.kind == RANGE and isinstance(inner, LogQuery):
                raise LogQLError("a range like [5m] needs a range function around it, e.g. count_over_time(...)", t.pos)
            return inner
        if t.kind == IDENT:
            name = t.text
            if name == "vector":
                return self.vector_of()
            if name in RANGE_OPS:
                return self.range_agg()
            if name in VECTOR_OPS:
                return self.vector_agg()
            if name in UNWRAP_OPS:
                raise self.unsupported(f"{name} (it needs `| unwrap`)", t.pos)
            if name in OTHER_FUNCS:
                raise self.unsupported(name, t.pos)
        raise self.unexpected()

    def vector_of(self) -> VectorOf:
        pos = self.take().pos
        self.expect_op("(")
        neg = self.is_op("-")
        if neg:
            self.take()
        if self.tok.kind != NUMBER:
            raise self.unexpected("NUMBER")
        value = float(self.take().text)
        self.expect_op(")")
        return VectorOf(-value if neg else value, pos)

    # --- metric queries ------------------------------------------------------------------------
    def range_agg(self) -> RangeAgg:
        name = self.take()
        self.expect_op("(")
        if self.tok.kind == NUMBER:
            raise self.unsupported(f"a parameter of {name.text}", self.tok.pos)
        parenthesised = self.is_op("(")
        if parenthesised:
            self.take()
        if not self.is_op("{"):
            raise self.unexpected("{")
        log, range_ns = self.log_range(parenthesised)
        offset = 0
        if self.is_word("offset"):
            self.take()
            offset = self.duration(self.take(), "offset")
        self.expect_op(")")
        if self.is_word("by", "without"):
            raise LogQLError(f"grouping not allowed for {name.text} aggregation", self.tok.pos)
        return RangeAgg(name.text, log, range_ns, offset, name.pos)

    def log_range(self, parenthesised: bool) -> tuple[LogQuery, int]:
        """`{...} stages [5m]`, `{...} [5m] stages`, or (when the caller took a "(")
        `{...} stages ) [5m]`."""
        start = self.tok.pos
        matchers = self.selector()
        stages = self.stages()
        range_ns: int | None = None
        if self.tok.kind == RANGE and not parenthesised:
            range_ns = self.duration(self.take(), "range")
            stages += self.stages()
        if parenthesised:
            self.expect_op(")")
        if range_ns is None:
            if self.tok.kind != RANGE:
                raise self.unexpected("RANGE")
            range_ns = self.duration(self.take(), "range")
        if range_ns <= 0:
            raise LogQLError("the range must be positive", start)
        return LogQuery(matchers, stages, start), range_ns

    def duration(self, t: Token, what: str) -> int:
        if t.kind not in (RANGE, UNIT_NUMBER, NUMBER):
            self.k -= 1
            raise self.unexpected(f"a duration for the {what}")
        if "$" in t.text:
            raise LogQLError(f"{t.text}: a Grafana variable ($__interval, $__auto, ...) was not replaced", t.pos)
        try:
            return parse_duration_ns(t.text)
        except DurationError as exc:
            raise LogQLError(str(exc), t.pos) from None

    def vector_agg(self) -> VectorAgg:
        name = self.take()
        by, without = self.grouping()
        self.expect_op("(")
        param: int | None = None
        if name.text in ("topk", "bottomk"):
            t = self.tok
            if t.kind != NUMBER:
                if self.is_op("{") or (t.kind == IDENT and self.peek().kind == OP and self.peek().text == "("):
                    raise LogQLError(f"parameter required for operation {name.text}", t.pos)
                raise self.unexpected("NUMBER")
            self.take()
            value = float(t.text)
            if not value.is_integer() or value < 1:
                raise LogQLError(f"invalid parameter {name.text}({t.text},", t.pos)
            param = int(value)
            self.expect_op(",")
        elif self.tok.kind == NUMBER and self.peek().kind == OP and self.peek().text == ",":
            raise LogQLError(f"unsupported parameter for operation {name.text}({self.tok.text},", self.tok.pos)
        inner = self.expr()
        if isinstance(inner, LogQuery):
            raise LogQLError(
                f"{name.text} takes a metric query, e.g. {name.text}(count_over_time({{...}}[5m]))", inner.pos
            )
        self.expect_op(")")
        if self.is_word("by", "without"):
            if by is not None:
                raise self.unexpected()
            by, without = self.grouping()
        return VectorAgg(name.text, inner, by, without, param, name.pos)

    def grouping(self) -> tuple[tuple[str, ...] | None, bool]:
        if not self.is_word("by", "without"):
            return None, False
        without = self.take().text == "without"
        self.expect_op("(")
        names: list[str] = []
        while not self.is_op(")"):
            if self.tok.kind != IDENT:
                raise self.unexpected("IDENTIFIER")
            names.append(self.take().text)
            if not self.is_op(","):
                break
            self.take()
        self.expect_op(")")
        return tuple(names), without

    # --- log queries ---------------------------------------------------------------------------
    def log_query(self) -> LogQuery:
        start = self.tok.pos
        matchers = self.selector()
        stages = self.stages()
        if self.tok.kind == RANGE:
            raise LogQLError("a range like [5m] needs a range function around it, e.g. count_over_time(...)", start)
        return LogQuery(matchers, stages, start)

    def selector(self) -> tuple[Matcher, ...]:
        self.expect_op("{")
        matchers: list[Matcher] = []
        while True:
            if self.is_op("}") and not matchers:
                raise self.unexpected("IDENTIFIER")
            matchers.append(self.matcher(MATCH_OPS))
            if self.is_op("}"):
                self.take()
                return tuple(matchers)
            if not self.is_op(","):
                raise self.unexpected("} or ,")
            self.take()

    def matcher(self, ops: tuple[str, ...]) -> Matcher:
        name = self.tok
        if name.kind != IDENT:
            raise self.unexpected("IDENTIFIER")
        self.take()
        if not self.is_op(*ops):
            raise self.unexpected(" or ".join(ops))
        op = self.take().text
        if self.tok.kind != STRING:
            raise self.unexpected("STRING")
        return Matcher(name.text, op, self.take().text, name.pos)

    def stages(self) -> tuple[Stage, ...]:
        out: list[Stage] = []
        while True:
            if self.is_op(*LINE_OPS):
                out.append(self.line_filter())
            elif self.is_op("|>", "!>"):
                raise self.unsupported(f"the pattern line filter {self.tok.text!r}", self.tok.pos)
            elif self.is_op("|"):
                self.take()
                out.append(self.pipe_stage())
            else:
                return tuple(out)

    def line_filter(self) -> LineFilter:
        op = self.take()
        values = [self.line_value()]
        while self.is_word("or"):
            self.take()
            values.append(self.line_value())
        return LineFilter(op.text, tuple(values), op.pos)

    def line_value(self) -> str:
        if self.is_word("ip"):
            raise self.unsupported("an ip() line filter", self.tok.pos)
        if self.tok.kind != STRING:
            raise self.unexpected("STRING")
        return self.take().text

    def pipe_stage(self) -> Stage:
        t = self.tok
        if t.kind != IDENT and not self.is_op("("):
            raise self.unexpected("a stage")
        word = t.text if t.kind == IDENT else ""
        nxt = self.peek()
        is_label = nxt.kind == OP and nxt.text in MATCH_OPS + NUMBER_OPS
        if word in ("json", "logfmt") and not is_label:
            self.take()
            if self.tok.kind in (IDENT, STRING) or self.is_op("-"):
                raise self.unsupported(f"`| {word}` with parameters or flags", self.tok.pos)
            return Parser(word, t.pos)
        if word in ("drop", "keep") and not is_label:
            self.take()
            return LabelList(self.label_names(word), word == "keep", t.pos)
        if word in UNSUPPORTED_STAGES and not is_label:
            raise self.unsupported(UNSUPPORTED_STAGES[word], t.pos)
        return LabelFilter(self.label_filter(), t.pos)

    def label_names(self, stage: str) -> tuple[str, ...]:
        names: list[str] = []
        while True:
            if self.tok.kind != IDENT:
                raise self.unexpected("IDENTIFIER")
            if self.peek().kind == OP and self.peek().text in MATCH_OPS:
                raise self.unsupported(f"`| {stage}` with a matcher", self.tok.pos)
            names.append(self.take().text)
            if not self.is_op(","):
                return tuple(names)
            self.take()

    def label_filter(self) -> LabelExpr:
        self.nest()
        parts = [self.label_or()]
        while True:
            if self.is_op(","):
                self.take()
            elif not (self.tok.kind == IDENT and not self.is_word("or", "and") or self.is_op("(")):
                break
            parts.append(self.label_or())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else LabelAnd(tuple(parts))

    def label_or(self) -> LabelExpr:
        return self._joined("or", self.label_and, LabelOr)

    def label_and(self) -> LabelExpr:
        return self._joined("and", self.label_primary, LabelAnd)

    def _joined(
        self, word: str, item: Callable[[], LabelExpr], node: Callable[[tuple[LabelExpr, ...]], LabelExpr]
    ) -> LabelExpr:
        parts = [item()]
        while self.is_word(word):
            self.take()
            parts.append(item())
        return parts[0] if len(parts) == 1 else node(tuple(parts))

    def label_primary(self) -> LabelExpr:
        if self.is_op("("):
            self.take()
            inner = self.label_filter()
            self.expect_op(")")
            return inner
        name = self.tok
        if name.kind != IDENT:
            raise self.unexpected("IDENTIFIER")
        nxt = self.peek()
        if nxt.kind != OP or nxt.text not in MATCH_OPS + NUMBER_OPS:
            self.take()
            raise self.unexpected("=, !=, =~, !~, ==, >, >=, <, <=")
        value = self.peek(2)
        if value.kind == IDENT and value.text == "ip":
            raise self.unsupported("an ip() label filter", value.pos)
        if value.kind == STRING and nxt.text in MATCH_OPS:
            return self.matcher(MATCH_OPS)
        self.take()
        op = self.take().text
        neg = self.is_op("-")
        if neg:
            self.take()
        t = self.tok
        if t.kind == UNIT_NUMBER:
            raise self.unsupported(f"comparing {name.text!r} with a duration or a size ({t.text})", t.pos)
        if t.kind != NUMBER or op not in NUMBER_OPS:
            raise self.unexpected("NUMBER" if op not in MATCH_OPS else "STRING")
        self.take()
        number = float(t.text)
        return NumberFilter(name.text, "==" if op == "=" else op, -number if neg else number, name.pos)


def is_label_name(name: str) -> bool:
    return bool(_LABEL_NAME_RE.fullmatch(name))
