"""`| math`: random expressions against a reference evaluation, the precedence and NaN rules,
errors naming what is wrong, and the stage through the executor."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.query.errors import QueryError
from engine.query.language.parser import parse
from engine.query.stages.math_expr import Math, as_json

FIELDS = {"a": "3", "b": "-2.5", "c": "0", "d": "x", "e": 7}
NUMS = {"a": 3.0, "b": -2.5, "c": 0.0, "d": math.nan, "e": 7.0}


def _ref_op(op: str, x: float, y: float) -> float:
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        return math.nan if y == 0 else x / y
    return math.nan if y == 0 or math.isinf(x) else math.fmod(x, y)


atoms = st.one_of(
    st.sampled_from(list(FIELDS)).map(lambda f: (f, NUMS[f])),
    st.integers(0, 20).map(lambda n: (str(n), float(n))),
)
exprs = st.recursive(
    atoms,
    lambda ch: st.one_of(
        st.builds(
            lambda a, op, b: (f"({a[0]} {op} {b[0]})", _ref_op(op, a[1], b[1])), ch, st.sampled_from("+-*/%"), ch
        ),
        st.builds(lambda a: (f"abs({a[0]})", abs(a[1])), ch),
        st.builds(lambda a: (f"-{a[0]}", -a[1]), ch),
        st.builds(
            lambda a, b: (
                f"max({a[0]}, {b[0]})",
                math.nan if math.isnan(a[1]) or math.isnan(b[1]) else max(a[1], b[1]),
            ),
            ch,
            ch,
        ),
    ),
    max_leaves=6,
)


def _run(text: str, obj: dict | None = None) -> object:
    stage = parse(f"* | math {text} as r").stages[0]
    assert isinstance(stage, Math)
    o = {"fields": dict(obj if obj is not None else FIELDS)}
    stage.apply(o)
    return o["fields"]["r"]


@given(exprs)
def test_expressions_match_the_reference(e):
    text, want = e
    assert _run(text) == as_json(want)


@pytest.mark.parametrize(
    "text, want",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ^ 3 ^ 2", 512),
        ("-2 ^ 2", -4),
        ("2 ^ -1", 0.5),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("a / c", None),
        ("d + 1", None),
        ("d default 5", 5),
        ("a default 5", 3),
        ("round(2.345, 0.01)", 2.35),
        ("round(b)", -2),
        ("min(a, b, e)", -2.5),
        ("floor(b) + ceil(b)", -5),
        ("ln(0)", None),
        ("exp(0)", 1),
        ("nosuch * 2", None),
        ("1e3 / 8", 125),
        ("(-8) ^ 0.5", None),
    ],
)
def test_semantics(text, want):
    assert _run(text) == want


def test_results_may_use_earlier_ones_and_times_are_nanoseconds():
    stage = parse("* | math a * 2 as x, x + 1 as y, _time / 1000000000 as secs").stages[0]
    o = {"_time": "2026-11-22T10:00:01.000000000Z", "fields": {"a": "4"}}
    stage.apply(o)
    assert o["fields"]["x"] == 8 and o["fields"]["y"] == 9 and o["fields"]["secs"] == 1795341601


@pytest.mark.parametrize(
    "query, message",
    [
        ("* | math", "math needs an expression"),
        ("* | math a +", "expected a number, a field"),
        ("* | math a", "math needs a name"),
        ("* | math foo(1) as x", "unknown math function foo"),
        ("* | math round() as x", "expected a number"),
        ("* | math round(1, 2, 3) as x", "round\\(\\) takes 1 to 2 arguments"),
        ("* | math 5m as x", "'5m' is not a number"),
        ("* | math (a as x", "'\\)' in the math expression"),
        ("* | math a as x y", "unexpected 'y' in math"),
    ],
)
def test_bad_math_is_named(query, message):
    with pytest.raises(QueryError, match=message):
        parse(query)


def test_math_through_the_executor(run):
    out = run("app:app | math duration_ms / 1000 as secs, round(secs * 10) as tenths | fields msgid, secs, tenths")
    assert out == [{"msgid": "r4", "secs": 0.0125, "tenths": 0}, {"msgid": "r3", "secs": 3, "tenths": 30}]
    out = run("* | math severity * 10 as s | stats sum(s), max(s) by (app) | filter app:sshd")
    assert out == [{"app": "sshd", "sum(s)": 100.0, "max(s)": 60.0}]
    out = run("* | stats count() as n, sum(duration_ms) as d by (host) | math d / n as per_row | filter per_row:*")
    assert out == [{"host": "db-1", "n": 2, "d": 3012.5, "per_row": 1506.25}]


values = st.one_of(
    st.none(), st.integers(-5, 5).map(str), st.sampled_from(["x", "", "1e3", "-0.5", "inf"]), st.integers(-3, 3)
)


@given(e=exprs, rows=st.lists(st.fixed_dictionaries({f: values for f in FIELDS}), min_size=1, max_size=8))
def test_a_chunk_answers_as_its_rows_one_by_one(e, rows):
    """Numpy over a chunk gives each row what evaluating it alone gives."""
    stage = parse(f"* | math {e[0]} as r, r * 2 as r2").stages[0]
    assert isinstance(stage, Math)
    together = [{"fields": {k: v for k, v in row.items() if v is not None}} for row in rows]
    alone = [{"fields": dict(o["fields"])} for o in together]
    stage.table(together)
    for o in alone:
        stage.apply(o)
    assert together == alone
