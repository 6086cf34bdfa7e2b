"""SpanRegex.search_spans agrees with re.search per row, on every path (exact hyperscan,
hyperscan + check, Python only)."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.regex import SpanRegex

PATTERNS = [
    rb"fo+", rb"(?i)FOO", rb"a.b", rb"(?s)a.b", rb"a\sb", rb"a[^x]b", rb"^a", rb"b$", rb"\Aa", rb"a\Z",
    rb"\bab\b", rb"\Bb", rb"(a|bc)+d", rb"a{2,}", rb"a{,2}b", rb"[a-c]{2}\d", rb"x*", rb"(?=a)ab", rb"(a)\1",
    rb"(?<=a)b", rb"[\n]", rb"(?i:a)B", rb"\d+\.\d+", rb"\W", rb"a\nb", rb"(?m)^b",
]
rows = st.lists(st.one_of(st.none(), st.lists(st.sampled_from(list(b"abcdfoFOx1.2 \n")), max_size=12).map(bytes)),
                max_size=25)


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(deadline=None, max_examples=60)
@given(vals=rows, data=st.data())
def test_search_spans(pattern, vals, data):
    rx = SpanRegex(pattern)
    d, s, e = naive.batch(vals, b"ab\n")
    cand = np.array(data.draw(st.lists(st.booleans(), min_size=len(vals), max_size=len(vals))), bool)
    got = rx.search_spans(d, s, e, cand)
    want = [bool(c) and v is not None and re.search(pattern, v) is not None for v, c in zip(vals, cand)]
    assert got.tolist() == want


def test_paths():
    assert SpanRegex(rb"fo+").exact and SpanRegex(rb"fo+").db is not None
    assert not SpanRegex(rb"a\sb").exact
    assert SpanRegex(rb"(a)\1").db is None
    assert SpanRegex(rb"x*").db is None
