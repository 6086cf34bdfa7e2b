"""parse_numbers against Python's float() on the documented grammar."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.numbers import NUMBER_RE, parse_number, parse_numbers

jit_settings = settings(deadline=None, max_examples=400)


def ref(v):
    if v is None or NUMBER_RE.fullmatch(v) is None:
        return math.nan
    return float(v)


numberish = st.one_of(
    st.integers(-(10**20), 10**20).map(lambda i: str(i).encode()),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    st.lists(st.sampled_from(list(b"0123456789.-+eE x")), max_size=12).map(bytes),
    st.none(),
)


@jit_settings
@given(st.lists(numberish, max_size=30))
def test_parse_numbers(vals):
    d, s, e = naive.batch(vals, b"7")
    got = parse_numbers(d, s, e)
    for v, g in zip(vals, got.tolist()):
        w = ref(v)
        assert (math.isnan(g) and math.isnan(w)) or g == w, (v, g, w)
        assert parse_number(v or b"") == (None if math.isnan(w) else w) or v is None


def test_examples():
    vals = [b"100", b"-3.5", b".5", b"1.", b"1e3", b"0012", b"1e", b".", b"12ms", b"", None, b"123456789012345678901"]
    got = parse_numbers(*naive.batch(vals))
    assert got[:6].tolist() == [100.0, -3.5, 0.5, 1.0, 1000.0, 12.0]
    assert np.isnan(got[6:11]).all()
    assert got[11] == 123456789012345678901.0
