"""Stream framing kernels against a plain-Python reference, plus the corpus's framed vectors."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from native_kernels.framing import TRUNCATED, split_lf, split_octet


def naive_lf(buf: bytes, max_len: int):
    frames = []
    start = 0
    for i, c in enumerate(buf):
        if c in (10, 0):
            end = i
            if c == 10 and end > start and buf[end - 1] == 13:
                end -= 1
            if end > start:
                frames.append((buf[start : min(end, start + max_len)], end - start > max_len))
            start = i + 1
    return frames, start


def frames_of(buf: bytes, result):
    starts, ends, flags, consumed, _ = result
    return [(buf[s:e], bool(f & TRUNCATED)) for s, e, f in zip(starts, ends, flags)], consumed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r\n", b"\x00", b"\r", b"x" * 20]), max_size=60))
def test_lf_matches_reference(pieces):
    buf = b"".join(pieces)
    got, consumed = frames_of(buf, split_lf(np.frombuffer(buf, np.uint8), 16))
    want, want_consumed = naive_lf(buf, 16)
    # The kernel also cuts an unfinished frame longer than the limit; compare the complete ones.
    assert got[: len(want)] == want
    assert consumed >= want_consumed


def test_lf_long_line_is_truncated_and_rest_discarded():
    buf = np.frombuffer(b"x" * 100, np.uint8)
    starts, ends, flags, consumed, discarding = split_lf(buf, 10)
    assert (starts.tolist(), ends.tolist(), flags.tolist()) == ([0], [10], [TRUNCATED])
    assert consumed == 100 and discarding
    starts, ends, flags, consumed, discarding = split_lf(np.frombuffer(b"yyy\nnext\n", np.uint8), 10, True)
    assert ends.tolist() == [8] and not discarding  # "yyy" ended the long line; "next" is a frame


def octet(msgs):
    return b"".join(b"%d %s" % (len(m), m) for m in msgs)


def strip_trailer(m: bytes) -> bytes:
    """What the octet kernel keeps of a frame body: one LF, CRLF or NUL trailer is framing."""
    if m.endswith(b"\r\n"):
        return m[:-2]
    if m.endswith((b"\n", b"\0")):
        return m[:-1]
    return m


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=40), max_size=20), st.integers(1, 60))
def test_octet_round_trip_and_any_cut_point(msgs, cut):
    buf = octet(msgs)
    arr = np.frombuffer(buf, np.uint8)
    want = [strip_trailer(m) for m in msgs if strip_trailer(m)]
    starts, ends, flags, consumed, skip, fallback = split_octet(arr, 1000)
    assert [buf[s:e] for s, e in zip(starts, ends)] == want and consumed == len(buf) and not fallback
    # Fed in two pieces, the frames before the cut come out, the rest waits for more data.
    cut = min(cut, len(buf))
    starts, ends, flags, consumed, _, _ = split_octet(arr[:cut], 1000)
    head = [buf[s:e] for s, e in zip(starts, ends)]
    # What was not consumed, read once complete, gives exactly the remaining frames.
    starts, ends, _, consumed2, _, fallback = split_octet(arr[consumed:], 1000)
    tail = [buf[consumed:][s:e] for s, e in zip(starts, ends)]
    assert head + tail == want and consumed + consumed2 == len(buf) and not fallback


def test_octet_trailer_inside_the_count_is_not_message():
    msgs = [b"<13>1 - h a - - - one\n", b"<13>two\r\n", b"<13>three\x00", b"<13>four\n\n", b"<13>five\r"]
    buf = octet(msgs)
    starts, ends, flags, consumed, _, fallback = split_octet(np.frombuffer(buf, np.uint8), 1000)
    assert [buf[s:e] for s, e in zip(starts, ends)] == [
        b"<13>1 - h a - - - one",
        b"<13>two",
        b"<13>three",
        b"<13>four\n",
        b"<13>five\r",
    ]
    assert consumed == len(buf) and not fallback


def test_octet_trailer_outside_the_count_is_skipped():
    buf = b"5 <1>ab\n5 <1>cd\r\n"
    starts, ends, flags, consumed, _, fallback = split_octet(np.frombuffer(buf, np.uint8), 1000)
    assert [buf[s:e] for s, e in zip(starts, ends)] == [b"<1>ab", b"<1>cd"] and not fallback


def test_octet_over_long_frame_is_truncated_across_reads():
    msg = b"a" * 50
    buf = octet([msg, b"tail"])
    arr = np.frombuffer(buf, np.uint8)
    starts, ends, flags, consumed, skip, _ = split_octet(arr[:30], 10)
    assert ends.tolist() == [13] and flags.tolist() == [TRUNCATED] and skip == 23
    starts, ends, flags, consumed2, skip, _ = split_octet(arr[30:], 10, skip)
    assert [buf[30:][s:e] for s, e in zip(starts, ends)] == [b"tail"] and skip == 0


def test_octet_stops_where_a_header_is_not_a_count():
    for bad in (b"xyz not a count\n", b"05 <1>ab", b"0 ", b"12x", b"1234567890 <1>"):
        buf = b"5 <1>ab" + bad
        starts, ends, flags, consumed, _, fallback = split_octet(np.frombuffer(buf, np.uint8), 100)
        assert [buf[s:e] for s, e in zip(starts, ends)] == [b"<1>ab"], bad
        assert consumed == 7 and fallback, bad


def test_corpus_octet_and_nontransparent_vectors(corpus):
    """Every frame the framed vectors call well-formed comes out whole."""
    checked = 0
    for line in (corpus / "syslog_vectors.jsonl").read_text().splitlines():
        v = json.loads(line)
        if v["format"] not in ("octet-framed", "lf-framed", "nul-framed") or not v.get("valid"):
            continue
        raw = base64.b64decode(v["input_b64"]) if "input_b64" in v else v["input"].encode()
        arr = np.frombuffer(raw, np.uint8)
        if v["format"] == "octet-framed":
            starts, ends, flags, _, _, _ = split_octet(arr, 1 << 20)
        else:
            starts, ends, flags, _, _ = split_lf(arr, 1 << 20)
        expected = v["expect"]["frames"]
        assert len(starts) == len(expected), v["id"]
        for s, e, frame in zip(starts, ends, expected):
            fields = frame["fields"]
            if fields and fields.get("message") is not None:
                assert raw[s:e].decode("utf-8", "replace").endswith(fields["message"]), v["id"]
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("data, consumed", [(b"0", 0), (b"4 <1>a0", 6), (b"07 <1>abc", 0), (b"4 <1>a", 6)])
def test_octet_never_reads_past_the_buffer(data, consumed):
    """The kernel's Python body (numba's `py_func`) raises IndexError where compiled code would
    read past the buffer: a count starting with "0" that ends the read must fall back in bounds."""
    from native_kernels.framing import _outputs, _split_octet

    buf = np.frombuffer(data, np.uint8)
    starts, ends, flags = _outputs(len(buf))
    count, got, _, fallback = _split_octet.py_func(buf, 1000, 0, starts, ends, flags)
    assert got == consumed
    assert fallback == (data[consumed : consumed + 1] == b"0")
