"""The per-connection framer: the framing rule, fallback, trailers, and input split at every byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from engine.receive.framing import (
    FRAMING_FALLBACK,
    FRAMING_LF,
    FRAMING_OCTET,
    MODE_LF,
    MODE_OCTET,
    MODE_UNDECIDED,
    Framer,
    decide_mode,
)
from native_kernels.framing import FRAMING_ERROR, TRUNCATED


def run(stream: bytes, pieces: list[int] | None = None, max_len: int = 1 << 16):
    """Feed `stream` cut at the given offsets, then finish: ([(frame, flags)], events)."""
    framer = Framer(max_len)
    cuts = [0, *(pieces or []), len(stream)]
    frames = []
    for a, b in zip(cuts, cuts[1:]):
        buf, starts, ends, flags = framer.feed(stream[a:b])
        frames += [(bytes(buf[s:e]), int(f)) for s, e, f in zip(starts, ends, flags)]
    buf, starts, ends, flags = framer.finish()
    frames += [(bytes(buf[s:e]), int(f)) for s, e, f in zip(starts, ends, flags)]
    return frames, framer.events


def every_split(stream: bytes):
    """The stream whole, cut at every single byte, and fed one byte at a time."""
    yield []
    for i in range(1, len(stream)):
        yield [i]
    yield list(range(1, len(stream)))


@pytest.mark.parametrize(
    "head, mode",
    [
        (b"", MODE_UNDECIDED),
        (b"1", MODE_UNDECIDED),
        (b"12 ", MODE_UNDECIDED),
        (b"12 <", MODE_OCTET),
        (b"12 x", MODE_LF),
        (b"0 <", MODE_LF),
        (b"012 <", MODE_LF),
        (b"<13>", MODE_LF),
        (b"hello", MODE_LF),
        (b"12x", MODE_LF),
        (b"123456789 <", MODE_OCTET),
        (b"1234567890", MODE_LF),
        (b"134681 node-246", MODE_LF),
        (b"\n12 <", MODE_LF),
    ],
)
def test_decide_mode(head, mode):
    assert decide_mode(head) == mode


# Octet-counted as rsyslog (RSYSLOG_SyslogProtocol23Format) and syslog-ng's syslog() send it:
# the LF that ends each message is inside the count.
RSYSLOG = b"".join(
    b"%d %s" % (len(m), m)
    for m in (
        b"<13>1 2024-01-02T03:04:05Z h app - - - GET / status=203\n",
        b"<13>1 2024-01-02T03:04:05Z h app - - - crlf\r\n",
        b"<13>1 2024-01-02T03:04:05Z h app - - - nul\x00",
        b"<13>1 2024-01-02T03:04:05Z h app - - - two lines\ninside\n",
    )
)


def test_octet_counted_frames_lose_their_trailer_at_every_split():
    want = [
        (b"<13>1 2024-01-02T03:04:05Z h app - - - GET / status=203", 0),
        (b"<13>1 2024-01-02T03:04:05Z h app - - - crlf", 0),
        (b"<13>1 2024-01-02T03:04:05Z h app - - - nul", 0),
        (b"<13>1 2024-01-02T03:04:05Z h app - - - two lines\ninside", 0),
    ]
    for pieces in every_split(RSYSLOG):
        assert run(RSYSLOG, pieces) == (want, [FRAMING_OCTET]), pieces


# HPC/BGL-style lines: digits and a space, no PRI. They were once read as octet counts.
DIGIT_LINES = (
    b"134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change\n"
    b"134682 node-109 unix.hw state_change.unavailable 1077804742 1 Component\r\n"
    b"1 2\n"
)


def test_lines_that_start_with_digits_stay_lines_at_every_split():
    want = [(line.rstrip(b"\r"), 0) for line in DIGIT_LINES.split(b"\n")[:-1]]
    for pieces in every_split(DIGIT_LINES):
        assert run(DIGIT_LINES, pieces) == (want, [FRAMING_LF]), pieces


def test_broken_octet_stream_falls_back_to_lines_at_every_split():
    stream = b"10 <13>first\n" + b"this is not a count\nnext line\n" + b"17 <13>not framed"
    want = [(b"<13>first", 0), (b"this is not a count", FRAMING_ERROR), (b"next line", 0), (b"17 <13>not framed", 0)]
    for pieces in every_split(stream):
        assert run(stream, pieces) == (want, [FRAMING_OCTET, FRAMING_FALLBACK]), pieces


def test_a_few_digits_then_the_end_is_a_plain_line():
    assert run(b"42") == ([(b"42", 0)], [FRAMING_LF])
    assert run(b"42 ") == ([(b"42 ", 0)], [FRAMING_LF])


def test_incomplete_octet_frame_at_the_end_is_kept_and_flagged():
    frames, events = run(b"30 <13>short\n")
    assert frames == [(b"<13>short", TRUNCATED)] and events == [FRAMING_OCTET]


def test_lf_and_nul_lines_keep_everything_but_the_delimiter():
    stream = b"<13>a\n<13>b\r\n<13>c\x00<13>d\r\r\n<13> e \n\n<13>last"
    frames, _ = run(stream)
    assert [f for f, _ in frames] == [b"<13>a", b"<13>b", b"<13>c", b"<13>d\r", b"<13> e ", b"<13>last"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=30).map(lambda b: b"<13>" + b), min_size=1, max_size=12),
    st.lists(st.integers(0, 400), max_size=6),
)
def test_octet_round_trip_any_cuts(msgs, cuts):
    """Vector's octet-counting round trip: frames out equal messages in, wherever TCP cuts."""
    stream = b"".join(b"%d %s" % (len(m), m) for m in msgs)
    pieces = sorted({c for c in cuts if 0 < c < len(stream)})
    frames, events = run(stream, pieces)

    def strip(m: bytes) -> bytes:
        if m.endswith(b"\r\n"):
            return m[:-2]
        return m[:-1] if m.endswith((b"\n", b"\0")) else m

    assert [f for f, _ in frames] == [strip(m) for m in msgs]
    assert events == [FRAMING_OCTET]
