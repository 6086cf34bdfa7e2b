"""The per-connection framer: every transition of its state machine, each with the stream fed
whole, cut at every byte and fed a byte at a time; the framing rule, fallback, trailers, the end
of the stream, and a round trip over any cuts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from engine.receive.framing import (
    FRAMING_FALLBACK,
    FRAMING_LF,
    FRAMING_OCTET,
    Framer,
    FramerState,
    Frames,
    decide_mode,
)
from native_kernels.framing import FRAMING_ERROR, TRUNCATED

UNDECIDED, LF, OCTET = FramerState.UNDECIDED, FramerState.LF, FramerState.OCTET
LF_RESYNC, LF_DISCARDING, OCTET_SKIPPING = FramerState.LF_RESYNC, FramerState.LF_DISCARDING, FramerState.OCTET_SKIPPING
T, E = TRUNCATED, FRAMING_ERROR


@dataclass
class Framed:
    """What a framer made of a stream: the frames, state and events after the last `feed`, then
    the frame `finish` added and the events in all."""

    frames: list[tuple[bytes, int]]
    state: FramerState
    events: list[str]
    last: list[tuple[bytes, int]]
    all_events: list[str]


def spans(result: Frames) -> list[tuple[bytes, int]]:
    buf, starts, ends, flags = result
    return [(bytes(buf[s:e]), int(f)) for s, e, f in zip(starts, ends, flags)]


def run(stream: bytes, pieces: list[int] | None = None, max_len: int = 1 << 16, cut: bool = False) -> Framed:
    """Feed `stream` cut at the given offsets, then finish."""
    framer = Framer(max_len)
    cuts = [0, *(pieces or []), len(stream)]
    frames = []
    for a, b in zip(cuts, cuts[1:]):
        frames += spans(framer.feed(stream[a:b]))
    state, events = framer.state, list(framer.events)
    last = spans(framer.finish(cut))
    return Framed(frames, state, events, last, framer.events)


def every_split(stream: bytes) -> Iterator[list[int]]:
    """The stream whole, cut at every single byte, and fed one byte at a time."""
    yield []
    for i in range(1, len(stream)):
        yield [i]
    yield list(range(1, len(stream)))


def octet(*msgs: bytes) -> bytes:
    return b"".join(b"%d %s" % (len(m), m) for m in msgs)


@pytest.mark.parametrize(
    "head, mode",
    [
        (b"", UNDECIDED),
        (b"1", UNDECIDED),
        (b"12 ", UNDECIDED),
        (b"12 <", OCTET),
        (b"12 x", LF),
        (b"0 <", LF),
        (b"012 <", LF),
        (b"<13>", LF),
        (b"hello", LF),
        (b"12x", LF),
        (b"123456789 <", OCTET),
        (b"1234567890", LF),
        (b"134681 node-246", LF),
        (b"\n12 <", LF),
    ],
)
def test_decide_mode(head: bytes, mode: FramerState) -> None:
    assert decide_mode(head) == mode


# One row per transition of the table in `Framer`'s docstring: the stream, max_len, the frames
# `feed` makes, the state after the last `feed`, and the events.
TRANSITIONS = {
    "undecided-waits": (b"12", 100, [], UNDECIDED, []),
    "undecided-waits-after-the-space": (b"123 ", 100, [], UNDECIDED, []),
    "undecided-to-octet": (b"5 <13>x", 100, [(b"<13>x", 0)], OCTET, [FRAMING_OCTET]),
    "undecided-to-lf": (b"<13>x\n", 100, [(b"<13>x", 0)], LF, [FRAMING_LF]),
    "digits-first-plain-line": (b"12 x\n", 100, [(b"12 x", 0)], LF, [FRAMING_LF]),
    "lf-nul-crlf": (b"<13>a\n<13>b\r\n<13>c\x00", 100, [(b"<13>a", 0), (b"<13>b", 0), (b"<13>c", 0)], LF, [FRAMING_LF]),
    "lf-empty-lines-make-no-frame": (b"a\n\n\r\n\x00b\n", 100, [(b"a", 0), (b"b", 0)], LF, [FRAMING_LF]),
    "lf-unfinished-line-waits": (b"a\nbc", 100, [(b"a", 0)], LF, [FRAMING_LF]),
    "lf-over-long-whole-line": (b"abcdefgh\nij\n", 4, [(b"abcd", T), (b"ij", 0)], LF, [FRAMING_LF]),
    "lf-to-discarding": (b"ab\nabcdefgh", 4, [(b"ab", 0), (b"abcd", T)], LF_DISCARDING, [FRAMING_LF]),
    "discarding-to-lf": (b"abcdefghij\x00k\n", 4, [(b"abcd", T), (b"k", 0)], LF, [FRAMING_LF]),
    "octet-trailers-dropped": (
        octet(b"<1>lf\n", b"<1>crlf\r\n", b"<1>nul\x00", b"<1>none"),
        100,
        [(b"<1>lf", 0), (b"<1>crlf", 0), (b"<1>nul", 0), (b"<1>none", 0)],
        OCTET,
        [FRAMING_OCTET],
    ),
    "octet-trailer-outside-the-count": (
        octet(b"<1>a") + b"\n" + octet(b"<1>b") + b"\r\n\x00",
        100,
        [(b"<1>a", 0), (b"<1>b", 0)],
        OCTET,
        [FRAMING_OCTET],
    ),
    "octet-empty-message-makes-no-frame": (
        octet(b"<1>a", b"\n", b"<1>b"),
        100,
        [(b"<1>a", 0), (b"<1>b", 0)],
        OCTET,
        [FRAMING_OCTET],
    ),
    "octet-unfinished-frame-waits": (octet(b"<1>a") + b"9 <1>", 100, [(b"<1>a", 0)], OCTET, [FRAMING_OCTET]),
    "octet-count-split-across-reads": (
        octet(b"<1>" + b"x" * 1200, b"<2>y"),
        2000,
        [(b"<1>" + b"x" * 1200, 0), (b"<2>y", 0)],
        OCTET,
        [FRAMING_OCTET],
    ),
    "octet-over-long-whole-frame": (
        octet(b"<1>abcdefgh", b"<2>b"),
        5,
        [(b"<1>ab", T), (b"<2>b", 0)],
        OCTET,
        [FRAMING_OCTET],
    ),
    "octet-to-skipping": (b"12 <1>abcdef", 5, [(b"<1>ab", T)], OCTET_SKIPPING, [FRAMING_OCTET]),
    "skipping-to-octet": (
        b"12 <1>abcdefghi" + octet(b"<2>b"),
        5,
        [(b"<1>ab", T), (b"<2>b", 0)],
        OCTET,
        [FRAMING_OCTET],
    ),
    "octet-to-resync": (
        octet(b"<1>a") + b"garbage",
        100,
        [(b"<1>a", 0)],
        LF_RESYNC,
        [FRAMING_OCTET, FRAMING_FALLBACK],
    ),
    "octet-zero-count-falls-back": (
        octet(b"<1>a") + b"0 <1>b\n",
        100,
        [(b"<1>a", 0), (b"0 <1>b", E)],
        LF,
        [FRAMING_OCTET, FRAMING_FALLBACK],
    ),
    "octet-ten-digit-count-falls-back": (
        octet(b"<1>a") + b"1234567890 x\n",
        100,
        [(b"<1>a", 0), (b"1234567890 x", E)],
        LF,
        [FRAMING_OCTET, FRAMING_FALLBACK],
    ),
    "resync-to-lf": (
        octet(b"<1>a") + b"not a count\nnext\n",
        100,
        [(b"<1>a", 0), (b"not a count", E), (b"next", 0)],
        LF,
        [FRAMING_OCTET, FRAMING_FALLBACK],
    ),
    "resync-to-discarding": (
        octet(b"<1>a") + b"x-not-a-count-and-long",
        8,
        [(b"<1>a", 0), (b"x-not-a-", T | E)],
        LF_DISCARDING,
        [FRAMING_OCTET, FRAMING_FALLBACK],
    ),
}


@pytest.mark.parametrize("stream, max_len, frames, state, events", TRANSITIONS.values(), ids=TRANSITIONS.keys())
def test_each_transition_at_every_split(
    stream: bytes, max_len: int, frames: list[tuple[bytes, int]], state: FramerState, events: list[str]
) -> None:
    for pieces in every_split(stream):
        got = run(stream, pieces, max_len)
        assert (got.frames, got.state, got.events) == (frames, state, events), pieces


def test_the_state_moves_read_by_read() -> None:
    framer = Framer(5)
    steps = [
        (b"1", [], UNDECIDED),
        (b"2 <1>abc", [(b"<1>ab", T)], OCTET_SKIPPING),  # a 12-byte frame over max_len 5
        (b"def", [], OCTET_SKIPPING),
        (b"ghi4 <1>", [], OCTET),  # its last byte, then a frame not all here
        (b"z", [(b"<1>z", 0)], OCTET),
        (b"oops\n", [(b"oops", E)], LF),
        (b"0123456", [(b"01234", T)], LF_DISCARDING),
        (b"789\n", [], LF),
        (b"ok\n", [(b"ok", 0)], LF),
    ]
    for data, frames, state in steps:
        assert (spans(framer.feed(data)), framer.state) == (frames, state), data
    assert framer.events == [FRAMING_OCTET, FRAMING_FALLBACK]


# Octet-counted as rsyslog (RSYSLOG_SyslogProtocol23Format) and syslog-ng's syslog() send it:
# the LF that ends each message is inside the count.
RSYSLOG = octet(
    b"<13>1 2024-01-02T03:04:05Z h app - - - GET / status=203\n",
    b"<13>1 2024-01-02T03:04:05Z h app - - - crlf\r\n",
    b"<13>1 2024-01-02T03:04:05Z h app - - - nul\x00",
    b"<13>1 2024-01-02T03:04:05Z h app - - - two lines\ninside\n",
)


def test_octet_counted_frames_lose_their_trailer_at_every_split() -> None:
    want = [
        (b"<13>1 2024-01-02T03:04:05Z h app - - - GET / status=203", 0),
        (b"<13>1 2024-01-02T03:04:05Z h app - - - crlf", 0),
        (b"<13>1 2024-01-02T03:04:05Z h app - - - nul", 0),
        (b"<13>1 2024-01-02T03:04:05Z h app - - - two lines\ninside", 0),
    ]
    for pieces in every_split(RSYSLOG):
        got = run(RSYSLOG, pieces)
        assert (got.frames + got.last, got.all_events) == (want, [FRAMING_OCTET]), pieces


# HPC/BGL-style lines: digits and a space, no PRI. They were once read as octet counts.
DIGIT_LINES = (
    b"134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change\n"
    b"134682 node-109 unix.hw state_change.unavailable 1077804742 1 Component\r\n"
    b"1 2\n"
)


def test_lines_that_start_with_digits_stay_lines_at_every_split() -> None:
    want = [(line.rstrip(b"\r"), 0) for line in DIGIT_LINES.split(b"\n")[:-1]]
    for pieces in every_split(DIGIT_LINES):
        got = run(DIGIT_LINES, pieces)
        assert (got.frames + got.last, got.all_events) == (want, [FRAMING_LF]), pieces


def test_broken_octet_stream_falls_back_to_lines_at_every_split() -> None:
    stream = b"10 <13>first\n" + b"this is not a count\nnext line\n" + b"17 <13>not framed"
    want = [(b"<13>first", 0), (b"this is not a count", E), (b"next line", 0), (b"17 <13>not framed", 0)]
    for pieces in every_split(stream):
        got = run(stream, pieces)
        assert (got.frames + got.last, got.all_events) == (want, [FRAMING_OCTET, FRAMING_FALLBACK]), pieces


def test_lf_and_nul_lines_keep_everything_but_the_delimiter() -> None:
    got = run(b"<13>a\n<13>b\r\n<13>c\x00<13>d\r\r\n<13> e \n\n<13>last")
    assert [f for f, _ in got.frames + got.last] == [b"<13>a", b"<13>b", b"<13>c", b"<13>d\r", b"<13> e ", b"<13>last"]


# The end of the stream, by state: the stream, max_len, whether we cut it (shutdown), the frame
# `finish` makes of the tail, and the events in all.
ENDINGS = {
    "digits-then-the-end-are-a-plain-line": (b"42", 100, False, [(b"42", 0)], [FRAMING_LF]),
    "digits-and-a-space-too": (b"42 ", 100, False, [(b"42 ", 0)], [FRAMING_LF]),
    "digits-over-max-len": (b"1234", 3, False, [(b"123", T)], [FRAMING_LF]),
    "lf-last-line-without-newline": (b"a\nlast", 100, False, [(b"last", 0)], [FRAMING_LF]),
    "lf-half-of-a-crlf": (b"a\nlast\r", 100, False, [(b"last", 0)], [FRAMING_LF]),
    "lf-only-a-cr": (b"a\n\r", 100, False, [], [FRAMING_LF]),
    "lf-cut-at-shutdown": (b"a\nlast", 100, True, [(b"last", T)], [FRAMING_LF]),
    "discarding-leaves-nothing": (b"a\nabcdefghijkl", 10, False, [], [FRAMING_LF]),
    "octet-shorter-than-its-count": (b"30 <13>short\n", 100, False, [(b"<13>short", T)], [FRAMING_OCTET]),
    "octet-crlf-trailer": (octet(b"<1>a") + b"30 <13>x\r\n", 100, False, [(b"<13>x", T)], [FRAMING_OCTET]),
    "octet-nul-trailer": (octet(b"<1>a") + b"30 <13>x\x00", 100, False, [(b"<13>x", T)], [FRAMING_OCTET]),
    "octet-count-without-a-body": (octet(b"<1>a") + b"30 ", 100, False, [], [FRAMING_OCTET]),
    "octet-half-a-count": (octet(b"<1>a") + b"3", 100, False, [(b"3", T)], [FRAMING_OCTET]),
    "skipping-leaves-nothing": (b"12 <1>abcdef", 5, False, [], [FRAMING_OCTET]),
    "resync-line-without-newline": (
        octet(b"<1>a") + b"x y",
        100,
        False,
        [(b"x y", E)],
        [FRAMING_OCTET, FRAMING_FALLBACK],
    ),
    "resync-cut-at-shutdown": (
        octet(b"<1>a") + b"x y",
        100,
        True,
        [(b"x y", T | E)],
        [FRAMING_OCTET, FRAMING_FALLBACK],
    ),
}


@pytest.mark.parametrize("stream, max_len, cut, last, events", ENDINGS.values(), ids=ENDINGS.keys())
def test_the_end_of_the_stream_at_every_split(
    stream: bytes, max_len: int, cut: bool, last: list[tuple[bytes, int]], events: list[str]
) -> None:
    for pieces in every_split(stream):
        got = run(stream, pieces, max_len, cut)
        assert (got.last, got.all_events) == (last, events), pieces


def test_finish_twice_gives_nothing_the_second_time() -> None:
    framer = Framer(100)
    framer.feed(b"<13>a\n<13>b")
    assert spans(framer.finish()) == [(b"<13>b", 0)]
    assert spans(framer.finish()) == []
    assert framer.events == [FRAMING_LF]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=30).map(lambda b: b"<13>" + b), min_size=1, max_size=12),
    st.lists(st.integers(0, 400), max_size=6),
)
def test_octet_round_trip_any_cuts(msgs: list[bytes], cuts: list[int]) -> None:
    """Vector's octet-counting round trip: frames out equal messages in, wherever TCP cuts."""
    stream = octet(*msgs)
    pieces = sorted({c for c in cuts if 0 < c < len(stream)})
    got = run(stream, pieces)

    def strip(m: bytes) -> bytes:
        if m.endswith(b"\r\n"):
            return m[:-2]
        return m[:-1] if m.endswith((b"\n", b"\0")) else m

    assert [f for f, _ in got.frames + got.last] == [strip(m) for m in msgs]
    assert got.all_events == [FRAMING_OCTET]
