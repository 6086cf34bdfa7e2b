"""gather.py value kernels against naive.py: separator-terminated values (the part's `lines` encoding), line_ends,
spans_equal; take_terminated as join_terminated of take_values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.gather import (
    group_row_items,
    items_with,
    join_terminated,
    line_ends,
    group_counts,
    scatter_frame_spans,
    split_terminated,
    take_spans,
    take_terminated,
    take_values,
)

jit_settings = settings(deadline=None)
values_st = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=60)


def _pack(values):
    off = np.zeros(len(values) + 1, np.int64)
    np.cumsum([len(v) for v in values], out=off[1:])
    return off, np.frombuffer(b"".join(values), np.uint8)


@jit_settings
@given(values_st, st.integers(0, 3))
def test_round_trip_matches_reference(values, skip):
    off, data = _pack([b"junk"] * skip + values)
    # A slice of a larger column: offsets need not start at 0.
    buf = join_terminated(off[skip:], data, 10)
    assert buf.tobytes() == naive.join_terminated(values, 10)
    got_off, got = split_terminated(buf, len(values), 10)
    assert [got[got_off[i] : got_off[i + 1]].tobytes() for i in range(len(values))] == values
    assert naive.split_terminated(buf.tobytes(), 10) == values


@jit_settings
@given(
    st.lists(st.sampled_from([0x0A, 0x0A, 0x00, 0x41, 0xFF, 0x8A]), max_size=700),
    st.integers(0, 15),
    st.sampled_from([0x0A, 0x00, 0xFF]),
)
def test_line_ends_equals_flatnonzero(body, skip, sep):
    # `skip` shifts the buffer off 8-byte alignment; dense separators make the output grow.
    buf = np.frombuffer(bytes(skip) + bytes(body), np.uint8)[skip:]
    got = line_ends(buf, sep)
    assert got.dtype == np.int64
    assert got.tolist() == np.flatnonzero(buf == sep).tolist()


def test_line_ends_on_every_separator_and_none():
    # A buffer of nothing but separators: far more than the first guess at their count.
    for size in (0, 1, 63, 64, 65, 5000):
        assert line_ends(np.full(size, 10, np.uint8), 10).tolist() == list(range(size))
        assert line_ends(np.zeros(size, np.uint8), 10).tolist() == []
    with pytest.raises(ValueError):
        line_ends(np.zeros(4, np.int64), 10)


def test_split_terminated_on_corpus_lines(corpus):
    # Real log lines (~140 bytes each, as messages are), 20,000 of them: ~3 MB.
    values = []
    for path in sorted((corpus / "loghub").glob("*_2k.log")):
        values += path.read_bytes().splitlines()
    buf = np.frombuffer(naive.join_terminated(values, 10), np.uint8)
    off, data = split_terminated(buf, len(values), 10)
    assert data.tobytes() == b"".join(values)
    assert np.diff(off).tolist() == [len(v) for v in values]


@pytest.mark.parametrize("buf, n", [(b"a\nb\n", 1), (b"a\nb\n", 3), (b"abc\n", 3), (b"a\nb", 2), (b"abc", 1)])
def test_damaged_buffers_are_refused(buf, n):
    with pytest.raises(ValueError):
        split_terminated(np.frombuffer(buf, np.uint8), n, 10)


@jit_settings
@given(st.lists(st.tuples(st.binary(max_size=6), st.binary(max_size=6)), max_size=30))
def test_spans_equal_matches_python(pairs):
    from native_kernels.gather import spans_equal

    a_vals = [x for x, _ in pairs]
    b_vals = [y for _, y in pairs]
    a_off, a = _pack(a_vals)
    b_off, b = _pack(b_vals[::-1])  # laid out in another order
    n = len(pairs)
    b_s = np.array([b_off[n - 1 - i] for i in range(n)], np.int64)
    b_e = np.array([b_off[n - i] for i in range(n)], np.int64)
    got = spans_equal(a, a_off[:-1], a_off[1:], b, b_s, b_e)
    assert got.tolist() == [x == y for x, y in pairs]
    if n:
        with pytest.raises(ValueError):
            spans_equal(a, a_off[:-1], a_off[1:] + 100, b, b_s, b_e)


def test_csr_append_puts_new_values_after_each_rows_own():
    from native_kernels.gather import csr_append

    # rows: 0 -> [a, bb], 1 -> [], 2 -> [c]; add x to row 0, y and zz to row 1, w to row 2.
    ptr = np.array([0, 2, 2, 3])
    off = np.array([0, 1, 3, 4])
    data = np.frombuffer(b"abbc", np.uint8)
    add_rows = np.array([0, 1, 1, 2])
    add_off = np.array([0, 1, 2, 4, 5])
    add_data = np.frombuffer(b"xyzzw", np.uint8)
    new_ptr, pos_old, pos_new, new_off, new_data = csr_append(ptr, off, data, add_rows, add_off, add_data)
    values = [new_data[new_off[i] : new_off[i + 1]].tobytes() for i in range(len(new_off) - 1)]
    groups = [values[new_ptr[r] : new_ptr[r + 1]] for r in range(3)]
    assert groups == [[b"a", b"bb", b"x"], [b"y", b"zz"], [b"c", b"w"]]
    assert pos_old.tolist() == [0, 1, 5] and pos_new.tolist() == [2, 3, 4, 6]


@jit_settings
@given(
    st.lists(st.lists(st.integers(0, 5), max_size=6), max_size=60),
    st.integers(-1, 6),
    st.sampled_from([np.uint8, np.uint16, np.uint32]),
)
def test_items_with_finds_the_items_and_their_rows(rows, value, dtype):
    counts = np.array([len(r) for r in rows], np.uint8)
    items = np.array([x for r in rows for x in r], dtype)
    where, owner = items_with(counts, items, value)
    want, pos = [], 0
    for r, row in enumerate(rows):
        for x in row:
            if x == value:
                want.append((pos, r))
            pos += 1
    assert list(zip(where.tolist(), owner.tolist())) == want


def test_items_with_refuses_counts_that_do_not_add_up():
    with pytest.raises(ValueError):
        items_with(np.array([2, 1], np.uint8), np.array([1, 2], np.uint32), 1)


@settings(deadline=None, max_examples=200)
@given(groups=st.lists(st.integers(0, 5), max_size=40), slots=st.lists(st.integers(-1, 3), min_size=6, max_size=6))
def test_scatter_frame_spans_hands_each_value_the_next_span_of_its_frame(groups, slots):
    # Oracle: frame k's spans are numbered k*1000 + j for its j-th value, in row order.
    of = [slots[g] for g in groups]
    counts = np.array([of.count(k) for k in range(4)], np.int64)
    spans = [k * 1000 + j for k in range(4) for j in range(int(counts[k]))]
    starts, ends = scatter_frame_spans(
        np.array(groups, np.uint8), np.array(slots), counts, np.array(spans), np.array(spans) + 1
    )
    seen = [0, 0, 0, 0]
    for i, k in enumerate(of):
        if k < 0:
            assert starts[i] == ends[i] == -1
        else:
            assert (starts[i], ends[i]) == (k * 1000 + seen[k], k * 1000 + seen[k] + 1)
            seen[k] += 1


def test_scatter_frame_spans_refuses_counts_that_disagree_with_the_spans():
    with pytest.raises(ValueError, match="values in the frames"):
        scatter_frame_spans(np.array([0, 0]), np.array([0]), np.array([3]), np.arange(2), np.arange(2))
    with pytest.raises(ValueError, match="more values than its count"):
        scatter_frame_spans(np.array([0, 0, 1]), np.array([0, 1]), np.array([1, 2]), np.arange(3), np.arange(3))
    with pytest.raises(ValueError, match="outside"):
        scatter_frame_spans(np.array([0, 2]), np.array([0, 0]), np.array([2]), np.arange(2), np.arange(2))


@settings(deadline=None, max_examples=200)
@given(groups=st.lists(st.integers(0, 6), max_size=40), data=st.data())
def test_group_counts_is_bincount_and_unique(groups, data):
    want = np.array(data.draw(st.lists(st.booleans(), min_size=len(groups), max_size=len(groups))), bool)
    g = np.array(groups, np.uint8)
    counts, wanted = group_counts(g, 7, want)
    assert counts.tolist() == np.bincount(g, minlength=7).tolist()
    assert np.flatnonzero(wanted).tolist() == np.unique(g[want]).tolist()
    counts, every = group_counts(g, 7)
    assert np.flatnonzero(every).tolist() == np.unique(g).tolist()


def test_group_counts_refuses_groups_past_its_size():
    with pytest.raises(ValueError, match="groups must lie"):
        group_counts(np.array([0, 3]), 3)


@jit_settings
@given(values_st, st.data())
def test_take_terminated_is_join_of_take(values, data):
    off, buf = _pack(values)
    idx = np.array(data.draw(st.lists(st.integers(0, max(0, len(values) - 1)), max_size=80) if values else st.just([])))
    t_off, t_data = take_values(off, buf, idx)
    assert take_terminated(off, buf, idx, 10).tobytes() == join_terminated(t_off, t_data, 10).tobytes()


def test_take_terminated_refuses_spans_outside_data():
    with pytest.raises(ValueError, match="inside"):
        take_terminated(np.array([0, 5, 3]), np.zeros(5, np.uint8), np.array([1]), 10)
    with pytest.raises(ValueError, match="inside"):
        take_terminated(np.array([0, 9]), np.zeros(5, np.uint8), np.array([0]), 10)


@jit_settings
@given(
    st.binary(max_size=300), st.lists(st.tuples(st.integers(-1, 300), st.integers(0, 40)), max_size=40), st.booleans()
)
def test_take_spans_equals_slicing(data, spans, strided):
    # spans short and long (a byte loop below 17 bytes, memcpy above), none (start -1), and a
    # strided buffer (copied first: memcpy reads the buffer from its pointer)
    buf = np.frombuffer(data, np.uint8)
    if strided:
        buf = np.repeat(buf, 2)[::2]
    spans = [(s, min(s + n, len(data))) for s, n in spans if s < len(data)]
    starts = np.array([s for s, _ in spans], np.int64)
    ends = np.array([e for _, e in spans], np.int64)
    off, out = take_spans(buf, starts, ends)
    want = [data[s:e] if s >= 0 else b"" for s, e in spans]
    assert [out[a:b].tobytes() for a, b in zip(off[:-1], off[1:])] == want
    assert off[-1] == len(out) == sum(map(len, want))


def test_group_row_items_orders_items_by_their_rows_group():
    rng = np.random.default_rng(8)
    counts = rng.integers(0, 5, size=300)
    ptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    items = rng.integers(0, 2**63, size=int(ptr[-1]), dtype=np.uint64)
    groups = rng.integers(0, 4, size=len(counts)).astype(np.uint8)
    out, ends = group_row_items(ptr, items, groups, 6)
    for g in range(6):
        want = [x for r in np.flatnonzero(groups == g) for x in items[ptr[r] : ptr[r + 1]].tolist()]
        assert out[ends[g] : ends[g + 1]].tolist() == want  # rows in order, groups 4 and 5 empty
    with pytest.raises(ValueError):
        group_row_items(ptr, items, groups, 3)  # a group past n
    with pytest.raises(ValueError):
        group_row_items(ptr[:-1], items, groups, 6)
