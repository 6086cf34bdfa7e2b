"""Stream framing kernels: cut a TCP read buffer into syslog frames (RFC 6587), no syslog inside.

Two framings, chosen per connection (see `engine.receive.framing`):
- non-transparent: frames end at LF (a CR before it is dropped) or NUL; empty frames are skipped;
- octet counting: `MSG-LEN SP` then exactly MSG-LEN bytes, of which one trailing LF, CRLF or
  NUL (rsyslog and syslog-ng put one inside the count) is not part of the message. A header
  that is not `NONZERO-DIGIT *DIGIT SP` ends octet counting: the kernel stops there and says so.

Both kernels take the buffer and a size limit and return frame spans, how many bytes they
consumed (the rest is an unfinished frame that waits for more data), and the state needed to
cut an over-long frame: the first `max_len` bytes become a truncated frame and the remainder
is skipped (`skip` bytes for octet counting, "until the next delimiter" for LF).
"""

from __future__ import annotations

import numpy as np

from native_kernels.jit import kernel

# Frame flag bits: set by these kernels and the framers, carried per frame in a raw batch
# (engine.ipc.raw_batch), turned into row flags by the parser.
TRUNCATED = 1
FRAMING_ERROR = 2

# An octet count has at most this many digits: 16 MiB messages need 8; more is garbage.
MAX_COUNT_DIGITS = 9


@kernel
def _split_lf(buf, max_len, discarding, starts, ends, flags):
    n = buf.shape[0]
    count = 0
    start = 0
    i = 0
    while i < n:
        c = buf[i]
        if c == 10 or c == 0:
            if discarding:
                discarding = False
            else:
                end = i
                if c == 10 and end > start and buf[end - 1] == 13:
                    end -= 1
                if end > start:
                    f = 0
                    if end - start > max_len:
                        end = start + max_len
                        f = TRUNCATED
                    starts[count] = start
                    ends[count] = end
                    flags[count] = f
                    count += 1
            start = i + 1
        i += 1
    # An unfinished frame longer than the limit is cut now, so a sender cannot grow our buffer.
    consumed = start
    if discarding:
        consumed = n
    elif n - start > max_len:
        starts[count] = start
        ends[count] = start + max_len
        flags[count] = TRUNCATED
        count += 1
        consumed = n
        discarding = True
    return count, consumed, discarding


@kernel
def _split_octet(buf, max_len, skip, starts, ends, flags):
    n = buf.shape[0]
    count = 0
    pos = 0
    fallback = False
    # Finish skipping the tail of an over-long frame from an earlier read.
    if skip > 0:
        take = min(skip, n)
        pos = take
        skip -= take
    while skip == 0 and pos < n:
        # A trailer some senders put after the count instead of inside it: not a frame.
        if buf[pos] == 10 or buf[pos] == 13 or buf[pos] == 0:
            pos += 1
            continue
        # Parse "MSG-LEN SP", MSG-LEN = NONZERO-DIGIT *DIGIT.
        j = pos
        length = 0
        digits = 0
        while j < n and digits <= MAX_COUNT_DIGITS and buf[j] >= 48 and buf[j] <= 57:
            length = length * 10 + (buf[j] - 48)
            digits += 1
            j += 1
        if j >= n and digits <= MAX_COUNT_DIGITS and (digits == 0 or buf[pos] != 48):
            break  # the count itself is unfinished
        if digits == 0 or digits > MAX_COUNT_DIGITS or buf[pos] == 48 or j >= n or buf[j] != 32:
            # Not an octet count: the stream is not (or no longer) octet counted. Stop here;
            # the caller reads the rest as LF-delimited lines.
            fallback = True
            break
        body = j + 1
        if length > max_len:
            # Emit the first max_len bytes once they are all here, then skip the rest.
            if n - body < max_len:
                break
            starts[count] = body
            ends[count] = body + max_len
            flags[count] = TRUNCATED
            count += 1
            rest = length - max_len
            avail = n - (body + max_len)
            if avail >= rest:
                pos = body + length
            else:
                pos = n
                skip = rest - avail
            continue
        if n - body < length:
            break  # the frame is unfinished
        end = body + length
        # One trailer (LF, CRLF or NUL) that senders put inside the count is not message.
        if end > body and buf[end - 1] == 10:
            end -= 1
            if end > body and buf[end - 1] == 13:
                end -= 1
        elif end > body and buf[end - 1] == 0:
            end -= 1
        if end > body:
            starts[count] = body
            ends[count] = end
            flags[count] = 0
            count += 1
        pos = body + length
    return count, pos, skip, fallback


def _outputs(n: int):
    # At most one frame per 2 bytes ("x\n"), plus a truncated remainder.
    cap = n // 2 + 2
    return np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.uint8)


def split_lf(buf: np.ndarray, max_len: int, discarding: bool = False):
    """Frames of an LF/NUL-delimited buffer: (starts, ends, flags, consumed, discarding)."""
    starts, ends, flags = _outputs(len(buf))
    count, consumed, discarding = _split_lf(buf, max_len, discarding, starts, ends, flags)
    return starts[:count], ends[:count], flags[:count], int(consumed), bool(discarding)


def split_octet(buf: np.ndarray, max_len: int, skip: int = 0):
    """Frames of an octet-counted buffer: (starts, ends, flags, consumed, skip, fallback).
    `fallback`: at `consumed` starts something that is not `MSG-LEN SP`; the stream is no
    longer octet counted from there."""
    starts, ends, flags = _outputs(len(buf))
    count, consumed, skip, fallback = _split_octet(buf, max_len, skip, starts, ends, flags)
    return starts[:count], ends[:count], flags[:count], int(consumed), int(skip), bool(fallback)


@kernel
def _trim(buf, starts, ends):
    for i in range(starts.shape[0]):
        s = starts[i]
        e = ends[i]
        while s < e and (buf[s] == 32 or buf[s] == 9 or buf[s] == 13):
            s += 1
        while e > s and (buf[e - 1] == 32 or buf[e - 1] == 9 or buf[e - 1] == 13):
            e -= 1
        starts[i] = s
        ends[i] = e


def trim_spans(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans with leading and trailing spaces, tabs and CRs removed (new arrays)."""
    starts = np.array(starts, dtype=np.int64)
    ends = np.array(ends, dtype=np.int64)
    _trim(buf, starts, ends)
    return starts, ends
