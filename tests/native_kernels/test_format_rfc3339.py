"""native_kernels.timestamps.format_rfc3339_ns against numpy's own datetime64 formatting (the
reference), over the whole int64 range, and read back by the RFC 3339 parser (which keeps two
days clear of the range's ends)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from native_kernels.timestamps import MAX_ABS_SECONDS, RFC3339_NS_BYTES, format_rfc3339_ns, parse_rfc3339_spans

I64 = np.iinfo(np.int64)


def reference(times: np.ndarray) -> list[bytes]:
    return [(s + "Z").encode() for s in np.datetime_as_string(times.astype("datetime64[ns]"), unit="ns").tolist()]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=I64.min + 1, max_value=I64.max), min_size=0, max_size=50))
def test_matches_numpy_and_parses_back(values):
    times = np.array(values, np.int64)
    out = format_rfc3339_ns(times)
    assert out.shape == (len(values), RFC3339_NS_BYTES)
    assert [bytes(row) for row in out] == reference(times)
    # The parser keeps two days clear of the int64 ends (room for a zone offset).
    inside = np.abs(times // 10**9) < MAX_ABS_SECONDS
    flat = out[inside].reshape(-1)
    starts = np.arange(int(inside.sum()), dtype=np.int64) * RFC3339_NS_BYTES
    parsed, ok = parse_rfc3339_spans(flat, starts, starts + RFC3339_NS_BYTES)
    assert ok.all() and np.array_equal(parsed, times[inside])


def test_edges():
    times = np.array([0, -1, 1, 951_782_400 * 10**9, I64.max, I64.min + 1], np.int64)  # 2000-02-29
    assert [bytes(row) for row in format_rfc3339_ns(times)] == reference(times)
    assert bytes(format_rfc3339_ns(np.array([-1]))[0]) == b"1969-12-31T23:59:59.999999999Z"
