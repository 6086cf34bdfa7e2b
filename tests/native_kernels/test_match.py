"""find_in_spans, spans_equal, join_candidates, candidate_lines and rows_holding against plain-Python
references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.match import (
    TOKEN_BYTE,
    candidate_lines,
    find_in_spans,
    join_candidates,
    rows_holding,
    spans_equal,
)
from native_kernels.tokens import _FOLD

jit_settings = settings(deadline=None, max_examples=300)
alphabet = st.sampled_from(list(b"abAB01_ -.\xc3\x80"))
values = st.lists(st.one_of(st.none(), st.lists(alphabet, max_size=40).map(bytes)), max_size=20)
needles = st.lists(alphabet, min_size=1, max_size=4).map(bytes)


def ref_find(value, needle, ignore_case, left, right):
    if value is None:
        return False
    hay = value.lower() if ignore_case else value
    nd = needle.lower() if ignore_case else needle
    for p in range(len(hay) - len(nd) + 1):
        if hay[p : p + len(nd)] != nd:
            continue
        if left and p > 0 and TOKEN_BYTE[hay[p - 1]]:
            continue
        if right and p + len(nd) < len(hay) and TOKEN_BYTE[hay[p + len(nd)]]:
            continue
        return True
    return False


def test_token_rule_matches_tokens_module():
    assert ((_FOLD != 0) == TOKEN_BYTE).all()


@jit_settings
@given(values, needles, st.booleans(), st.booleans(), st.booleans(), st.data())
def test_find_in_spans(vals, needle, ignore_case, left, right, data):
    d, s, e = naive.batch(vals, b"Ab")
    cand = np.array(data.draw(st.lists(st.booleans(), min_size=len(vals), max_size=len(vals))), bool)
    got = find_in_spans(d, s, e, cand, needle, ignore_case, left, right)
    want = [bool(c) and ref_find(v, needle, ignore_case, left, right) for v, c in zip(vals, cand)]
    assert got.tolist() == want


def test_find_long_rows_cross_words():
    row = b"x" * 61 + b" Failed password " + b"y" * 70 + b"tail"
    d, s, e = naive.batch([row, row.lower(), b"failedx"])
    cand = np.ones(3, bool)
    assert find_in_spans(d, s, e, cand, b"failed", True, True, True).tolist() == [True, True, False]
    assert find_in_spans(d, s, e, cand, b"Failed", False, True, True).tolist() == [True, False, False]
    assert find_in_spans(d, s, e, cand, b"tail", False, True, True).tolist() == [False, False, False]
    assert find_in_spans(d, s, e, cand, b"ytail", False, False, True).tolist() == [True, True, False]


@jit_settings
@given(values, st.lists(alphabet, max_size=3).map(bytes), st.booleans())
def test_spans_equal(vals, needle, prefix):
    d, s, e = naive.batch(vals, b"zz")
    got = spans_equal(d, s, e, np.ones(len(vals), bool), needle, prefix)
    want = [v is not None and (v.startswith(needle) if prefix else v == needle) for v in vals]
    assert got.tolist() == want


@jit_settings
@given(values, st.data())
def test_join_candidates(vals, data):
    d, s, e = naive.batch(vals, b"q")
    cand = np.array(data.draw(st.lists(st.booleans(), min_size=len(vals), max_size=len(vals))), bool)
    buf, row_start = join_candidates(d, s, e, cand)
    expect = b"".join(v + b"\n" for v, c in zip(vals, cand) if c and v is not None)
    assert buf.tobytes() == expect
    for v, c, r in zip(vals, cand, row_start.tolist()):
        if c and v is not None:
            assert buf[r : r + len(v)].tobytes() == v
        else:
            assert r == -1


def test_candidate_lines():
    data = np.frombuffer(b"ab\n\ncd\nxy", np.uint8)
    s, e = np.array([0, 3, 4], np.int64), np.array([2, 3, 6], np.int64)
    every = np.ones(3, bool)
    assert candidate_lines(data, s, e, every) == (0, 7, 7)
    assert candidate_lines(data, s, e, np.array([False, True, True])) == (3, 7, 4)  # need not start at byte 0
    assert candidate_lines(data, s, e, np.array([True, False, True])) == (0, 7, 6)  # a row between left out
    assert candidate_lines(data, s[::-1], e[::-1], every) == (0, 7, 7)  # any order of spans
    assert candidate_lines(data, np.array([0, -1, 4]), np.array([2, -1, 6]), np.array([True, False, True]))[2] == 6
    assert candidate_lines(data, np.array([0, -1]), np.array([2, -1]), np.array([True, True]))[2] == -1  # no value
    assert candidate_lines(data, np.array([1]), np.array([2]), np.array([True]))[2] == -1  # no `\n` before
    assert candidate_lines(data, np.array([7]), np.array([9]), np.array([True]))[2] == -1  # none after
    assert candidate_lines(data, np.array([4]), np.array([99]), np.array([True]))[2] == -1  # past the data
    assert candidate_lines(data, s, e, np.zeros(3, bool))[2] == 0


@jit_settings
@given(
    spans=st.lists(st.tuples(st.integers(-1, 30), st.integers(0, 6)), max_size=30),
    points=st.lists(st.integers(0, 40), max_size=10),
    data=st.data(),
)
def test_rows_holding(spans, points, data):
    starts = np.array([s for s, _ln in spans], np.int64)
    ends = np.array([s + ln if s >= 0 else -1 for s, ln in spans], np.int64)
    cand = np.array(data.draw(st.lists(st.booleans(), min_size=len(spans), max_size=len(spans))), bool)
    got = rows_holding(starts, ends, cand, np.array(sorted(points), np.int64))
    want = [bool(c) and s >= 0 and any(s <= p <= e for p in points) for s, e, c in zip(starts, ends, cand)]
    assert got.tolist() == want


def test_rows_holding_refuses_points_out_of_order():
    with pytest.raises(ValueError, match="ascending"):
        rows_holding(np.array([0]), np.array([1]), np.array([True]), np.array([3, 1]))
