"""Per-connection stream framing state: LF/NUL-delimited or RFC 6587 octet counting.

The mode is decided once per connection from its first byte (a digit means octet counting, as
RFC 6587 §3.4.1 frames start with MSG-LEN; anything else, typically `<`, means LF framing).
This module knows nothing of syslog: it turns a byte stream into frame spans and keeps the
unfinished tail for the next read. The cutting itself is a numba kernel.
"""

from __future__ import annotations

import numpy as np

from native_kernels.framing import TRUNCATED, split_lf, split_octet

MODE_UNDECIDED, MODE_LF, MODE_OCTET = 0, 1, 2


class Framer:
    """Frames of one TCP connection. `feed` returns spans into the buffer it was given (or into a
    joined buffer when a tail was pending), which the caller must copy before the next `feed`."""

    __slots__ = ("max_len", "mode", "_tail", "_discarding", "_skip")

    def __init__(self, max_len: int):
        self.max_len = max_len
        self.mode = MODE_UNDECIDED
        self._tail = b""
        self._discarding = False
        self._skip = 0

    def feed(self, data: bytes) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
        """(buffer, starts, ends, flags) of the complete frames now available."""
        if self._tail:
            data = self._tail + data
        if self.mode == MODE_UNDECIDED:
            if not data:
                return data, *_EMPTY
            first = data[0]
            self.mode = MODE_OCTET if 48 <= first <= 57 else MODE_LF
        buf = np.frombuffer(data, dtype=np.uint8)
        if self.mode == MODE_OCTET:
            starts, ends, flags, consumed, self._skip = split_octet(buf, self.max_len, self._skip)
        else:
            starts, ends, flags, consumed, self._discarding = split_lf(buf, self.max_len, self._discarding)
        self._tail = data[consumed:] if consumed < len(data) else b""
        return data, starts, ends, flags

    def finish(self, cut: bool = False) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
        """At end of stream: the unfinished tail as a last frame (a last line without a
        newline loses nothing). It is flagged truncated when it is known or may be incomplete:
        an octet-counted frame shorter than its count, or any tail when `cut` (we stopped
        reading mid-stream, at shutdown)."""
        tail, self._tail = self._tail, b""
        if not tail or self._discarding or self._skip:
            return b"", *_EMPTY
        if self.mode == MODE_OCTET:
            # Drop an incomplete "LEN SP" prefix so the row holds what was sent as the message.
            head, sep, rest = tail.partition(b" ")
            if sep and head.isdigit():
                tail = rest
        buf = np.frombuffer(tail, dtype=np.uint8)
        end = len(tail)
        while end > 0 and buf[end - 1] in (10, 13, 0):
            end -= 1
        if end == 0:
            return b"", *_EMPTY
        flags = np.zeros(1, np.uint8)
        if end > self.max_len or cut or self.mode == MODE_OCTET:
            flags[0] = TRUNCATED
        end = min(end, self.max_len)
        return tail, np.zeros(1, np.int64), np.array([end], np.int64), flags


_EMPTY = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint8))
