"""Per-connection stream framing state: LF/NUL-delimited lines or RFC 6587 octet counting.

The rule, decided once per connection from its first bytes:

    octet counting   the stream opens with NONZERO-DIGIT *DIGIT SP "<" (a MSG-LEN of at most
                     9 digits, then the PRI of a syslog message)
    LF / NUL lines   anything else, so a plain line that merely starts with digits
                     ("134681 node-246 unix.hw ...") is never read as a count

An octet-counted connection whose next header is not `MSG-LEN SP` falls back to LF framing for
the rest of the connection (octet-counting senders end each frame with LF, so lines resync);
the first line after the switch is flagged as a framing error. The framer waits for more bytes
while the opening bytes cannot decide yet, so input split at any byte frames the same.

This module knows nothing of syslog: it turns a byte stream into frame spans and keeps the
unfinished tail for the next read. The cutting itself is done by numba kernels.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

from native_kernels.framing import FRAMING_ERROR, MAX_COUNT_DIGITS, TRUNCATED, split_lf, split_octet

# Names of the framing outcomes counted per connection (metric label `framing`).
FRAMING_LF, FRAMING_OCTET, FRAMING_FALLBACK = "lf", "octet_counted", "lf_fallback"

_SP, _LT = 32, 60

# A framer's output: the buffer the spans point into, frame starts, ends and flags.
Frames = tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]


class FramerState(IntEnum):
    """Where a connection's framer stands; `Framer` documents the transitions."""

    UNDECIDED = 0  # the opening bytes cannot tell octet counting from lines yet
    LF = 1  # LF/NUL-delimited lines
    OCTET = 2  # octet-counted frames
    LF_RESYNC = 3  # lines after a fallback from octet counting; the first is a framing error
    LF_DISCARDING = 4  # dropping the rest of an over-long line, up to its delimiter
    OCTET_SKIPPING = 5  # dropping the rest of an over-long counted frame (`skip` bytes)


# The states as plain names, compared by identity: `feed` runs on every read, and a global
# beats an enum attribute as `is` beats `==` on an int subclass.
_UNDECIDED = FramerState.UNDECIDED
_LF = FramerState.LF
_OCTET = FramerState.OCTET
_LF_RESYNC = FramerState.LF_RESYNC
_LF_DISCARDING = FramerState.LF_DISCARDING
_OCTET_SKIPPING = FramerState.OCTET_SKIPPING


def decide_mode(head: bytes) -> FramerState:
    """The framing of a stream that opens with `head`: OCTET, LF, or UNDECIDED while `head` is
    a prefix of both kinds (then more bytes are needed)."""
    if not head:
        return _UNDECIDED
    if not 49 <= head[0] <= 57:  # NONZERO-DIGIT
        return _LF
    i = 1
    while i < len(head) and 48 <= head[i] <= 57:
        i += 1
        if i > MAX_COUNT_DIGITS:
            return _LF
    if i == len(head):
        return _UNDECIDED
    if head[i] != _SP:
        return _LF
    if i + 1 == len(head):
        return _UNDECIDED
    return _OCTET if head[i + 1] == _LT else _LF


class Framer:
    """Frames of one TCP connection. `feed` returns spans into the buffer it was given (or into a
    joined buffer when a tail was pending), which the caller must copy before the next `feed`.

    `events` lists the framing outcomes (FRAMING_*) since the caller last cleared it: one when
    the mode is decided, one more on a fallback to LF.

    `state` is a `FramerState`. Its transitions, of which one `feed` may take several:

        state           input                                   next            output
        UNDECIDED       opening bytes, a prefix of both kinds   UNDECIDED       none (they wait)
        UNDECIDED       NONZERO-DIGIT *DIGIT SP "<"             OCTET           event octet_counted
        UNDECIDED       anything else                           LF              event lf
        LF              a line, then LF, CRLF or NUL            LF              the line [1]
        LF              max_len bytes of an unfinished line     LF_DISCARDING   them, TRUNCATED
        LF_DISCARDING   the rest of that line, its delimiter    LF              none
        LF_RESYNC       a line, or max_len bytes of one         as from LF      as from LF, and
                                                                                FRAMING_ERROR
        OCTET           MSG-LEN SP, then MSG-LEN bytes          OCTET           the message [2]
        OCTET           LF, CR or NUL where a header starts     OCTET           none (a trailer sent
                                                                                after the count)
        OCTET           MSG-LEN SP, then max_len bytes of a     OCTET_SKIPPING  those max_len bytes,
                        longer frame                            (OCTET if the   TRUNCATED
                                                                rest is here)
        OCTET_SKIPPING  the rest of that frame                  OCTET           none
        OCTET           a header that is not MSG-LEN SP         LF_RESYNC       event lf_fallback

    [1] Without its delimiter; none when empty; cut to max_len and TRUNCATED when longer.
    [2] Without one trailing LF, CRLF or NUL (senders put it inside the count); none when empty.

    Bytes that complete no transition (a line without its delimiter, a header or frame not all
    here yet) wait in the tail for the next `feed`; at the end of the stream `finish` makes
    them a last frame.
    """

    __slots__ = ("max_len", "state", "events", "_tail", "_skip")

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self.state = _UNDECIDED
        self.events: list[str] = []
        self._tail = b""
        self._skip = 0  # OCTET_SKIPPING: bytes of the over-long frame still to drop

    def feed(self, data: bytes) -> Frames:
        """(buffer, starts, ends, flags) of the complete frames now available."""
        if self._tail:
            data = self._tail + data
            self._tail = b""
        state = self.state
        if state is _UNDECIDED:
            state = decide_mode(data[: MAX_COUNT_DIGITS + 2])
            if state is _UNDECIDED:
                self._tail = data
                return data, *_EMPTY
            self.state = state
            self.events.append(FRAMING_OCTET if state is _OCTET else FRAMING_LF)
        buf = np.frombuffer(data, dtype=np.uint8)
        if state is _OCTET or state is _OCTET_SKIPPING:
            starts, ends, flags, consumed, self._skip, fallback = split_octet(buf, self.max_len, self._skip)
            if fallback:
                self.state = _LF_RESYNC
                self.events.append(FRAMING_FALLBACK)
                more = self._split_lines(buf[consumed:], consumed, _LF_RESYNC)
                starts, ends, flags = (np.concatenate([a, b]) for a, b in zip((starts, ends, flags), more[:3]))
                consumed = more[3]
            else:
                self.state = _OCTET_SKIPPING if self._skip else _OCTET
        else:
            starts, ends, flags, consumed = self._split_lines(buf, 0, state)
        self._tail = data[consumed:] if consumed < len(data) else b""
        return data, starts, ends, flags

    def _split_lines(
        self, buf: npt.NDArray[np.uint8], base: int, state: FramerState
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8], int]:
        """The LF-side transitions from `state` over `buf`, which begins at offset `base` of the
        fed buffer: (starts, ends, flags, consumed) in that buffer's offsets."""
        starts, ends, flags, consumed, discarding = split_lf(buf, self.max_len, state is _LF_DISCARDING)
        if state is not _LF:
            if state is _LF_DISCARDING:
                self.state = _LF  # the long line ended here, or goes on (then DISCARDING below)
            elif len(starts):  # LF_RESYNC: its first line
                flags = flags.copy()
                flags[0] |= FRAMING_ERROR
                self.state = _LF
        if discarding:
            self.state = _LF_DISCARDING
        if base:
            starts, ends = starts + base, ends + base
        return starts, ends, flags, consumed + base

    def finish(self, cut: bool = False) -> Frames:
        """At end of stream: the unfinished tail as a last frame (a last line without a
        newline loses nothing). It is flagged truncated when it is known or may be incomplete:
        an octet-counted frame shorter than its count, or any tail when `cut` (we stopped
        reading mid-stream, at shutdown)."""
        tail, self._tail = self._tail, b""
        state = self.state
        if not tail or state is _LF_DISCARDING or state is _OCTET_SKIPPING:
            return b"", *_EMPTY
        if state is _UNDECIDED:  # a few digits and nothing else: a plain line
            state = self.state = _LF
            self.events.append(FRAMING_LF)
        end = len(tail)
        if state is _OCTET:
            # Drop an incomplete "LEN SP" prefix so the row holds what was sent as the message.
            head, sep, rest = tail.partition(b" ")
            if sep and head.isdigit():
                tail = rest
            end = len(tail)
            if tail.endswith(b"\n"):
                end -= 2 if tail.endswith(b"\r\n") else 1
            elif tail.endswith(b"\0"):
                end -= 1
        elif tail.endswith(b"\r"):  # half of a CRLF that was cut
            end -= 1
        if end <= 0:
            return b"", *_EMPTY
        flags = np.zeros(1, np.uint8)
        if end > self.max_len or cut or state is _OCTET:
            flags[0] = TRUNCATED
        if state is _LF_RESYNC:
            flags[0] |= FRAMING_ERROR
            self.state = _LF
        end = min(end, self.max_len)
        return tail, np.zeros(1, np.int64), np.array([end], np.int64), flags


_EMPTY: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]] = (
    np.empty(0, np.int64),
    np.empty(0, np.int64),
    np.empty(0, np.uint8),
)
