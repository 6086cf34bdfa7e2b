"""The LogQL parser against the cases of loki_parser_cases.txt: queries from Grafana Loki's own
parser tests (pkg/logql/syntax/parser_test.go at commit
0532f5cc3f8566ed53ad59563f05bb8e491b2868), with the tree logjet's parser gives them or, for
those outside logjet's subset, the error naming what is not supported; and the error shape."""

from __future__ import annotations

import os

import pytest

from engine.query.logql.parser import parse, parse_log_query
from engine.query.logql.syntax import (
    BinOp,
    LabelAnd,
    LabelFilter,
    LabelList,
    LabelOr,
    LineFilter,
    LogQLError,
    LogQuery,
    Matcher,
    Number,
    NumberFilter,
    Parser,
    RangeAgg,
    VectorAgg,
    VectorOf,
)

CASES = os.path.join(os.path.dirname(__file__), "loki_parser_cases.txt")


def _num(v: float) -> str:
    return str(int(v)) if v.is_integer() else repr(v)


def _label(e) -> str:
    if isinstance(e, Matcher):
        return f'{e.name}{e.op}"{e.value}"'
    if isinstance(e, NumberFilter):
        return f"{e.name}{e.op}{_num(e.value)}"
    if isinstance(e, (LabelAnd, LabelOr)):
        kind = "and" if isinstance(e, LabelAnd) else "or"
        return f"({kind} {' '.join(_label(c) for c in e.children)})"
    raise AssertionError(e)


def _stage(s) -> str:
    if isinstance(s, LineFilter):
        return f"(line {s.op} {' '.join(chr(34) + v + chr(34) for v in s.values)})"
    if isinstance(s, Parser):
        return f"({s.kind})"
    if isinstance(s, LabelFilter):
        return f"(filter {_label(s.expr)})"
    if isinstance(s, LabelList):
        return f"({'keep' if s.keep else 'drop'} {' '.join(s.names)})"
    raise AssertionError(s)


def describe(e) -> str:
    if isinstance(e, LogQuery):
        selector = "{" + ", ".join(_label(m) for m in e.matchers) + "}"
        return " ".join([selector] + [_stage(s) for s in e.stages])
    if isinstance(e, RangeAgg):
        offset = f" offset {e.offset_ns // 10**9}s" if e.offset_ns else ""
        return f"({e.op} {e.range_ns // 10**9}s{offset} {describe(e.log)})"
    if isinstance(e, VectorAgg):
        param = f" {e.param}" if e.param is not None else ""
        grouping = "" if e.by is None else f" {'without' if e.without else 'by'} ({','.join(e.by)})"
        return f"({e.op}{param}{grouping} {describe(e.inner)})"
    if isinstance(e, BinOp):
        return f"({e.op} {describe(e.left)} {describe(e.right)})"
    if isinstance(e, Number):
        return _num(e.value)
    if isinstance(e, VectorOf):
        return f"(vector {_num(e.value)})"
    raise AssertionError(e)


def _cases():
    with open(CASES, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            query, expected = (part.strip() for part in line.rsplit("  =>  ", 1))
            yield pytest.param(query, expected, id=f"line{n}")


@pytest.mark.parametrize("query, expected", list(_cases()))
def test_case(query, expected):
    if expected.startswith("ERROR "):
        _, col, words = expected.split(" ", 2)
        with pytest.raises(LogQLError) as info:
            parse(query)
        assert info.value.position + 1 == int(col), str(info.value)
        assert words in info.value.message, str(info.value)
        return
    assert describe(parse(query)) == expected


def test_error_is_worded_as_loki_words_it():
    with pytest.raises(LogQLError) as info:
        parse('{foo="bar"} foo')
    assert str(info.value) == "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"


def test_strings_take_go_escapes_and_refuse_others():
    q = parse_log_query(r'{app="a\"b\\c\u00e9\x41"} |~ "\\d+\t"')
    assert q.matchers[0].value == 'a"b\\céA'
    assert q.stages[0].values == ("\\d+\t",)
    with pytest.raises(LogQLError, match=r"invalid escape sequence \\d"):
        parse(r'{app="x"} |~ "\d+"')


def test_grafana_variables_left_in_are_named():
    with pytest.raises(LogQLError, match="Grafana variable"):
        parse('count_over_time({app="x"}[$__auto])')


def test_log_query_where_a_metric_query_is_needed_and_back():
    with pytest.raises(LogQLError, match="only a log query"):
        parse_log_query('rate({app="x"}[1m])')
    with pytest.raises(LogQLError, match="range function"):
        parse('{app="x"}[5m]')


def test_deep_nesting_is_refused_not_a_crash():
    with pytest.raises(LogQLError, match="nests more than 64"):
        parse("(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(LogQLError, match="nests more than 64"):
        parse('{app="x"} | json | ' + "(" * 5000 + 'a="b"' + ")" * 5000)
    with pytest.raises(LogQLError, match="nests more than 64"):
        parse("sum(" * 100 + 'count_over_time({a="b"}[1m])' + ")" * 100)
