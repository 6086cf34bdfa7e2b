"""DictionaryEncoder and hash_bytes against the references in naive.py."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.dictionary import DictionaryEncoder, check_spans, hash_bytes, hash_spans

# Few distinct short values, so batches repeat them; sometimes long ones, to cross word sizes.
values = st.one_of(
    st.none(),
    st.sampled_from([b"", b"a", b"host-1", b"host-2", b"HOST-1", b"10.0.0.1:514", b"x" * 8, b"x" * 9]),
    st.binary(max_size=40),
)
rows = st.lists(values, max_size=60)
# The first example of a test compiles kernels (or loads them from numba's cache): no deadline.
jit_settings = settings(deadline=None)


def encode_both(enc, ref, vals, junk=b"", order=None):
    ids, new = enc.encode(*naive.batch(vals, junk, order))
    want_ids, want_new = ref.encode(vals)
    assert ids.dtype == np.uint32
    assert ids.tolist() == want_ids
    assert new == want_new
    assert enc.epoch == ref.epoch
    assert len(enc) == len(ref.ids)


@jit_settings
@given(st.binary(max_size=70))
def test_hash_bytes_matches_reference(b):
    assert int(hash_bytes(np.frombuffer(b, np.uint8), 0, len(b))) == naive.hash_bytes(b)


@jit_settings
@given(st.binary(max_size=40), st.binary(max_size=40), st.binary(max_size=40))
def test_hash_bytes_of_a_span_ignores_bytes_around_it(before, b, after):
    data = np.frombuffer(before + b + after, np.uint8)
    assert int(hash_bytes(data, len(before), len(before) + len(b))) == naive.hash_bytes(b)


def test_hash_bytes_is_pinned():
    # Token hashes are stored in bloom filters on disk: these values must never change.
    assert naive.hash_bytes(b"") == int(hash_bytes(np.zeros(0, np.uint8), 0, 0))
    assert int(hash_bytes(np.frombuffer(b"hello", np.uint8), 0, 5)) == 5048204837488966821


@jit_settings
@given(st.lists(rows, min_size=1, max_size=4), st.binary(max_size=3), st.randoms())
def test_encode_matches_reference_across_batches(batches, junk, rnd):
    enc, ref = DictionaryEncoder(), naive.Dictionary()
    for vals in batches:
        order = list(range(len(vals)))
        rnd.shuffle(order)
        encode_both(enc, ref, vals, junk, order)


@settings(max_examples=50, deadline=None)
@given(st.lists(rows, min_size=1, max_size=8), st.integers(1, 6), st.integers(1, 30))
def test_reset_at_the_start_of_the_call_after_the_bounds(batches, max_entries, max_bytes):
    enc = DictionaryEncoder(max_entries=max_entries, max_bytes=max_bytes)
    ref = naive.Dictionary(max_entries=max_entries, max_bytes=max_bytes)
    for vals in batches:
        encode_both(enc, ref, vals)


def test_ids_in_order_of_first_appearance_and_no_value_is_zero():
    enc = DictionaryEncoder()
    ids, new = enc.encode(*naive.batch([b"b", None, b"a", b"b", b"", b"a", b""]))
    assert ids.tolist() == [1, 0, 2, 1, 3, 2, 3]
    assert new == [(1, b"b"), (2, b"a"), (3, b"")]
    ids, new = enc.encode(*naive.batch([b"a", b"c"]))
    assert ids.tolist() == [2, 4] and new == [(4, b"c")]
    assert enc.values() == [b"b", b"a", b"", b"c"]


def test_growth_of_table_entries_and_pool():
    # Past every initial size: 20k distinct values, one value bigger than the first pool.
    vals = [b"procid-%d" % i for i in range(20_000)] + [b"z" * 100_000]
    enc, ref = DictionaryEncoder(max_entries=1 << 20, max_bytes=1 << 30), naive.Dictionary(1 << 20, 1 << 30)
    encode_both(enc, ref, vals)
    encode_both(enc, ref, vals[::-1])
    assert len(enc) == 20_001 and enc.nbytes == sum(map(len, vals))


def test_reset_bumps_epoch_and_restarts_ids():
    enc = DictionaryEncoder(max_entries=2)
    enc.encode(*naive.batch([b"a", b"b", b"c"]))
    assert enc.epoch == 0 and len(enc) == 3  # over the bound only after the call
    ids, new = enc.encode(*naive.batch([b"c"]))
    assert enc.epoch == 1 and ids.tolist() == [1] and new == [(1, b"c")]
    enc.reset()
    assert enc.epoch == 2 and len(enc) == 0


def test_empty_batch():
    ids, new = DictionaryEncoder().encode(*naive.batch([]))
    assert ids.shape == (0,) and new == []


@pytest.mark.parametrize(
    "data, starts, ends",
    [
        (np.zeros(4, np.int8), [0], [1]),
        (np.zeros((2, 2), np.uint8), [0], [1]),
        (np.zeros(4, np.uint8), np.array([0], np.int32), np.array([1], np.int32)),
        (np.zeros(4, np.uint8), [0, 1], [1]),
        (np.zeros(4, np.uint8), [2], [1]),
        (np.zeros(4, np.uint8), [0], [5]),
        (np.zeros(4, np.uint8), [-1], [2]),
        (np.zeros(4, np.uint8), [-2], [-2]),
    ],
)
def test_bad_spans_are_refused(data, starts, ends):
    starts = np.asarray(starts, np.int64) if isinstance(starts, list) else starts
    ends = np.asarray(ends, np.int64) if isinstance(ends, list) else ends
    with pytest.raises(ValueError):
        check_spans(data, starts, ends)
    with pytest.raises(ValueError):
        DictionaryEncoder().encode(data, starts, ends)


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError):
        DictionaryEncoder(max_entries=0)


@settings(deadline=None)
@given(st.lists(st.one_of(st.none(), st.binary(max_size=30)), max_size=40))
def test_hash_spans_matches_reference(values):
    data, starts, ends = naive.batch(values, junk=b"#")
    got = hash_spans(data, starts, ends).tolist()
    assert got == [0 if v is None else naive.hash_bytes(v) for v in values]
