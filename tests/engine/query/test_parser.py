"""The query language, case by case from parser_cases.txt: parse trees and error positions."""

from __future__ import annotations

import pathlib

import pytest

from engine.query.errors import QueryError
from engine.query.execute import PreparedQuery
from engine.query.field_eval import Leaf
from engine.query.filters.boolean import All, And, Not, Or
from engine.query.filters.exact import Exact
from engine.query.filters.exists import Exists
from engine.query.filters.phrase import Phrase
from engine.query.filters.prefix import Prefix
from engine.query.filters.range import Range
from engine.query.filters.regex import Regex
from engine.query.filters.word import Word
from engine.query.language.parser import parse
from engine.query.stages.field_list import Fields
from engine.query.stages.histogram import Histogram
from engine.query.stages.limit import Limit
from engine.query.stages.sort import Sort
from engine.query.stages.stats import Stats
from engine.query.stages.top import Top
from engine.query.stages.uniq import Uniq
from engine.query.values import TimeBucket

CASES = pathlib.Path(__file__).with_name("parser_cases.txt")


def _cases():
    for n, line in enumerate(CASES.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        query, _, expected = line.partition("=>")
        yield pytest.param(query.strip(), expected.strip(), id=f"line{n}")


def _pred(p) -> str:
    if isinstance(p, Word):
        return f"word({p.text.decode()})"
    if isinstance(p, Phrase):
        return f"phrase({p.text.decode()})"
    if isinstance(p, Prefix):
        return f"prefix{'' if p.ignore_case else '_cs'}({p.text.decode()})"
    if isinstance(p, Regex):
        return f"regex({p.pattern.decode()})"
    if isinstance(p, Exists):
        return "exists"
    if isinstance(p, Exact):
        return f"exact{'_prefix' if p.prefix else ''}{'_i' if p.ignore_case else ''}({p.text.decode()})"
    if isinstance(p, Range):
        lo = "" if p.lo is None else p.lo
        hi = "" if p.hi is None else p.hi
        return (
            f"range{'[' if p.lo_incl and p.lo is not None else '('}{lo}.."
            f"{hi}{']' if p.hi_incl and p.hi is not None else ')'}"
        )
    raise AssertionError(p)


def describe_filter(f) -> str:
    if isinstance(f, All):
        return "*"
    if isinstance(f, (And, Or)):
        return f"({'and' if isinstance(f, And) else 'or'} {' '.join(describe_filter(c) for c in f.children)})"
    if isinstance(f, Not):
        return f"(not {describe_filter(f.child)})"
    if isinstance(f, Leaf):
        return f"{f.field.name}:{_pred(f.pred)}"
    raise AssertionError(f)


def _by(by) -> str:
    return ",".join(f"{b.name}:{b.step_ns}" if isinstance(b, TimeBucket) else b.name for b in by)


def describe_stage(s) -> str:
    if isinstance(s, Stats):
        funcs = ", ".join((f"{f.name}=" if f.name else "") + f.default_name for f in s.funcs)
        return f"stats({funcs} by {_by(s.by)})"
    if isinstance(s, Histogram):
        extra = (", bytes" if s.sum_bytes else "") + (f" by {','.join(b.name for b in s.by)}" if s.by else "")
        return f"histogram({s.step_ns}{extra})"
    if isinstance(s, Sort):
        return f"sort({', '.join(n + (' desc' if d else ' asc') for n, d in s.keys)})"
    if isinstance(s, Limit):
        return f"limit({s.n})"
    if isinstance(s, Fields):
        return f"fields({', '.join(s.names)})"
    if isinstance(s, Top):
        return f"top({s.n} {_by(s.by)})"
    if isinstance(s, Uniq):
        return f"uniq({_by(s.by)}{' hits' if s.hits else ''}{'' if s.limit is None else f' limit {s.limit}'})"
    raise AssertionError(s)


def describe(text: str) -> str:
    q = parse(text)
    return " | ".join([describe_filter(q.filter)] + [describe_stage(s) for s in q.stages])


@pytest.mark.parametrize("query,expected", list(_cases()))
def test_case(query, expected):
    if expected.startswith("ERROR"):
        _, pos, words = expected.split(" ", 2)
        with pytest.raises(QueryError) as info:
            PreparedQuery(query)
        assert info.value.position == int(pos), f"{info.value}"
        assert words.lower() in info.value.message.lower(), f"{info.value}"
    else:
        assert describe(query) == expected


def test_relative_time_word_is_a_lower_bound():
    q = parse("_time:5m")
    assert isinstance(q.filter.pred, Range) and q.filter.pred.hi is None and q.filter.pred.lo > 0


def test_error_str_names_position():
    with pytest.raises(QueryError) as info:
        parse("a (b")
    assert "position 4" in str(info.value)
