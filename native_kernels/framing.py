"""Stream framing kernels: cut a TCP read buffer into syslog frames (RFC 6587), no syslog inside.

Two framings, chosen per connection by its first byte (see `engine.receive.framing`):
- non-transparent: frames end at LF (a CR before it is dropped) or NUL; empty frames are skipped;
- octet counting: `LEN SP` then exactly LEN bytes.

Both kernels take the buffer and a size limit and return frame spans, how many bytes they
consumed (the rest is an unfinished frame that waits for more data), and the state needed to
cut an over-long frame: the first `max_len` bytes become a truncated frame and the remainder
is skipped (`skip` bytes for octet counting, "until the next delimiter" for LF).
"""

from __future__ import annotations

import numpy as np

from native_kernels.jit import kernel

# Frame flag bits (shared with engine.batch.FRAME_TRUNCATED).
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
    # Finish skipping the tail of an over-long frame from an earlier read.
    if skip > 0:
        take = min(skip, n)
        pos = take
        skip -= take
    while skip == 0 and pos < n:
        # Parse "LEN SP".
        j = pos
        length = 0
        digits = 0
        while j < n and digits <= MAX_COUNT_DIGITS and buf[j] >= 48 and buf[j] <= 57:
            length = length * 10 + (buf[j] - 48)
            digits += 1
            j += 1
        if j >= n and digits <= MAX_COUNT_DIGITS:
            break  # the count itself is unfinished
        if digits == 0 or digits > MAX_COUNT_DIGITS or buf[j] != 32 or (digits > 1 and buf[pos] == 48):
            # Not an octet count: recover by taking everything up to the next LF as one frame
            # (what a sender that switched to LF framing would send), flagged as a framing error.
            k = pos
            while k < n and buf[k] != 10:
                k += 1
            if k >= n:
                if n - pos > max_len:
                    starts[count] = pos
                    ends[count] = pos + max_len
                    flags[count] = FRAMING_ERROR | TRUNCATED
                    count += 1
                    pos = n
                break
            end = k
            if end > pos and buf[end - 1] == 13:
                end -= 1
            if end > pos:
                f = FRAMING_ERROR
                if end - pos > max_len:
                    end = pos + max_len
                    f |= TRUNCATED
                starts[count] = pos
                ends[count] = end
                flags[count] = f
                count += 1
            pos = k + 1
            continue
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
        if length > 0:
            starts[count] = body
            ends[count] = body + length
            flags[count] = 0
            count += 1
        pos = body + length
    return count, pos, skip


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
    """Frames of an octet-counted buffer: (starts, ends, flags, consumed, skip)."""
    starts, ends, flags = _outputs(len(buf))
    count, consumed, skip = _split_octet(buf, max_len, skip, starts, ends, flags)
    return starts[:count], ends[:count], flags[:count], int(consumed), int(skip)


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
