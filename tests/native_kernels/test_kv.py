"""extract_kv against the reference in naive.py, on generated and real (loghub) messages."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.kv import MAX_KEY_BYTES, KvPairs, extract_kv

LOGHUB = Path("/work/shared/corpus/loghub")

# The first example of a test compiles kernels (or loads them from numba's cache): no deadline.
jit_settings = settings(deadline=None)

# Messages made of the pieces the rule cares about, so that most examples hold pairs.
pieces = st.sampled_from(
    [b"a", b"Key_1", b"x.y-z", b"9", b"=", b"==", b'"', b"\\", b'\\"', b" ", b"\t", b",", b";", b"(", b")",
     b"[", b"]", b"{", b"}", b"|", b"?", b"&", b"/", b"\xc3\xa9", b"k" * 130]
)  # fmt: skip
messages = st.one_of(st.lists(pieces, max_size=30).map(b"".join), st.binary(max_size=60))


def pairs_by_row(kv: KvPairs, data: np.ndarray, n: int):
    b = data.tobytes()
    out = [[] for _ in range(n)]
    for r, ks, ke, vs, ve in zip(kv.row, kv.key_s, kv.key_e, kv.val_s, kv.val_e):
        out[r].append((b[ks:ke], b[vs:ve]))
    return out


def check(values, junk=b"", order=None, max_pairs=64):
    data, starts, ends = naive.batch(values, junk, order)
    kv = extract_kv(data, starts, ends, max_pairs)
    assert kv.row.dtype == np.uint32 and kv.key_s.dtype == kv.val_e.dtype == np.int64
    # Row order, then position order within a row.
    assert np.all(np.diff(kv.row.astype(np.int64)) >= 0)
    same_row = np.diff(kv.row.astype(np.int64)) == 0
    assert np.all(np.diff(kv.key_s)[same_row] > 0)
    got = pairs_by_row(kv, data, len(values))
    want = [[] if v is None else naive.extract_kv_row(v, max_pairs) for v in values]
    assert got == want
    return got


@jit_settings
@given(st.lists(st.one_of(st.none(), messages), max_size=12), st.sampled_from([b"", b"a", b" ", b"="]))
def test_extract_kv_matches_reference(values, junk):
    # Junk before each row checks that a key at a row's start needs no delimiter before it,
    # and that bytes outside the row are never read as part of it.
    check(values, junk)


@jit_settings
@given(st.lists(messages, min_size=1, max_size=8), st.randoms(), st.integers(0, 4))
def test_spans_in_any_order_and_max_pairs(values, rnd, max_pairs):
    order = list(range(len(values)))
    rnd.shuffle(order)
    check(values, b"x=", order, max_pairs)


@pytest.mark.parametrize(
    "msg, pairs",
    [
        (b"user=root rhost=218.188.2.4 uid=0",
         [(b"user", b"root"), (b"rhost", b"218.188.2.4"), (b"uid", b"0")]),
        (b"logname= uid=0", [(b"logname", b""), (b"uid", b"0")]),
        (b"key=", [(b"key", b"")]),
        (b'msg="a b c" x=1', [(b"msg", b"a b c"), (b"x", b"1")]),
        (b'msg="" x=1', [(b"msg", b""), (b"x", b"1")]),
        (b'msg="say \\"hi\\" now" x=1', [(b"msg", b'say \\"hi\\" now'), (b"x", b"1")]),
        (b'msg="ends in \\\\" x=1', [(b"msg", b"ends in \\\\"), (b"x", b"1")]),
        (b'msg="never closed x=1', [(b"msg", b'"never'), (b"x", b"1")]),
        (b'a="q"b=1', [(b"a", b"q")]),  # b follows a quote, not a delimiter
        (b"a==b c=d", [(b"c", b"d")]),
        (b"url=/x?a=1&b=2 y=3", [(b"url", b"/x?a=1&b=2"), (b"y", b"3")]),
        (b"a=b=c", [(b"a", b"b=c")]),
        (b"f(x=1,y=2) [z=3] {w=4} |v=5;u=6", [(b"x", b"1"), (b"y", b"2"), (b"z", b"3"), (b"w", b"4"),
                                             (b"v", b"5"), (b"u", b"6")]),
        (b"a=1)b=2", [(b"a", b"1")]),
        (b"9a=1 -b=2 .c=3 _d=4 e.f-g=5", [(b"_d", b"4"), (b"e.f-g", b"5")]),
        (b"x =1 y= 2", [(b"y", b"")]),
        (b"caf\xc3\xa9=1 k=\xc3\xa9", [(b"k", b"\xc3\xa9")]),
        (b"", []),
        (b"no pairs here", []),
    ],
)  # fmt: skip
def test_examples(msg, pairs):
    assert check([msg]) == [pairs]


def test_key_length_limit():
    ok, too_long = b"k" * MAX_KEY_BYTES, b"k" * (MAX_KEY_BYTES + 1)
    assert check([ok + b"=1 " + too_long + b"=2 z=3"]) == [[(ok, b"1"), (b"z", b"3")]]


def test_max_pairs_per_row_keeps_the_first():
    msg = b" ".join(b"k%d=%d" % (i, i) for i in range(100))
    assert len(check([msg])[0]) == 64
    assert check([msg, msg], max_pairs=2) == [[(b"k0", b"0"), (b"k1", b"1")]] * 2
    assert check([msg], max_pairs=0) == [[]]
    with pytest.raises(ValueError):
        extract_kv(*naive.batch([msg]), max_pairs_per_row=-1)


def test_no_value_rows_and_empty_batch():
    assert check([None, b"a=1", None]) == [[], [(b"a", b"1")], []]
    assert len(extract_kv(*naive.batch([]))) == 0


def test_many_pairs_grow_the_output():
    rows = [b"a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8"] * 5000
    data, starts, ends = naive.batch(rows)
    assert len(extract_kv(data, starts, ends)) == 40_000


@pytest.mark.slow  # the whole corpus
def test_loghub_corpus():
    by_file = {p.name: p.read_bytes().splitlines() for p in sorted(LOGHUB.glob("*_2k.log"))}
    got = dict(zip(by_file, (check(rows) for rows in by_file.values())))
    linux = [dict(p) for p in got["Linux_2k.log"]]
    assert sum(b"rhost" in p for p in linux) > 100
    assert {b"logname": b"", b"uid": b"0", b"euid": b"0", b"tty": b"NODEVssh", b"ruser": b"",
            b"rhost": b"218.188.2.4"} in linux  # fmt: skip
    android = [dict(p) for p in got["Android_2k.log"]]
    want = {b"tag": b"View Lock", b"uid": b"10037", b"pid": b"2227"}
    assert any(want.items() <= p.items() for p in android)
