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

import numpy as np

from native_kernels.framing import FRAMING_ERROR, MAX_COUNT_DIGITS, TRUNCATED, split_lf, split_octet

MODE_UNDECIDED, MODE_LF, MODE_OCTET = 0, 1, 2
# Names of the framing outcomes counted per connection (metric label `framing`).
FRAMING_LF, FRAMING_OCTET, FRAMING_FALLBACK = "lf", "octet_counted", "lf_fallback"

_SP, _LT = 32, 60


def decide_mode(head: bytes) -> int:
    """The framing of a stream that opens with `head`: MODE_OCTET, MODE_LF, or MODE_UNDECIDED
    while `head` is a prefix of both kinds (then more bytes are needed)."""
    if not head:
        return MODE_UNDECIDED
    if not 49 <= head[0] <= 57:  # NONZERO-DIGIT
        return MODE_LF
    i = 1
    while i < len(head) and 48 <= head[i] <= 57:
        i += 1
        if i > MAX_COUNT_DIGITS:
            return MODE_LF
    if i == len(head):
        return MODE_UNDECIDED
    if head[i] != _SP:
        return MODE_LF
    if i + 1 == len(head):
        return MODE_UNDECIDED
    return MODE_OCTET if head[i + 1] == _LT else MODE_LF


class Framer:
    """Frames of one TCP connection. `feed` returns spans into the buffer it was given (or into a
    joined buffer when a tail was pending), which the caller must copy before the next `feed`.

    `events` lists the framing outcomes (FRAMING_*) since the caller last cleared it: one when
    the mode is decided, one more on a fallback to LF."""

    __slots__ = ("max_len", "mode", "events", "_tail", "_discarding", "_skip", "_resync")

    def __init__(self, max_len: int):
        self.max_len = max_len
        self.mode = MODE_UNDECIDED
        self.events: list[str] = []
        self._tail = b""
        self._discarding = False
        self._skip = 0
        self._resync = False  # the next LF frame is the first after a fallback

    def feed(self, data: bytes) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
        """(buffer, starts, ends, flags) of the complete frames now available."""
        if self._tail:
            data = self._tail + data
            self._tail = b""
        if self.mode == MODE_UNDECIDED:
            mode = decide_mode(data[: MAX_COUNT_DIGITS + 2])
            if mode == MODE_UNDECIDED:
                self._tail = data
                return data, *_EMPTY
            self.mode = mode
            self.events.append(FRAMING_OCTET if mode == MODE_OCTET else FRAMING_LF)
        buf = np.frombuffer(data, dtype=np.uint8)
        if self.mode == MODE_OCTET:
            starts, ends, flags, consumed, self._skip, fallback = split_octet(buf, self.max_len, self._skip)
            if fallback:
                self.mode = MODE_LF
                self._resync = True
                self.events.append(FRAMING_FALLBACK)
                more = self._split_lf(buf[consumed:], consumed)
                starts, ends, flags = (np.concatenate([a, b]) for a, b in zip((starts, ends, flags), more[:3]))
                consumed = more[3]
        else:
            starts, ends, flags, consumed = self._split_lf(buf, 0)
        self._tail = data[consumed:] if consumed < len(data) else b""
        return data, starts, ends, flags

    def _split_lf(self, buf: np.ndarray, base: int):
        starts, ends, flags, consumed, self._discarding = split_lf(buf, self.max_len, self._discarding)
        if self._resync and len(starts):
            flags = flags.copy()
            flags[0] |= FRAMING_ERROR
            self._resync = False
        if base:
            starts, ends = starts + base, ends + base
        return starts, ends, flags, consumed + base

    def finish(self, cut: bool = False) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
        """At end of stream: the unfinished tail as a last frame (a last line without a
        newline loses nothing). It is flagged truncated when it is known or may be incomplete:
        an octet-counted frame shorter than its count, or any tail when `cut` (we stopped
        reading mid-stream, at shutdown)."""
        tail, self._tail = self._tail, b""
        if not tail or self._discarding or self._skip:
            return b"", *_EMPTY
        if self.mode == MODE_UNDECIDED:  # a few digits and nothing else: a plain line
            self.mode = MODE_LF
            self.events.append(FRAMING_LF)
        end = len(tail)
        if self.mode == MODE_OCTET:
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
        if end > self.max_len or cut or self.mode == MODE_OCTET:
            flags[0] = TRUNCATED
        if self._resync:
            flags[0] |= FRAMING_ERROR
            self._resync = False
        end = min(end, self.max_len)
        return tail, np.zeros(1, np.int64), np.array([end], np.int64), flags


_EMPTY = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint8))
