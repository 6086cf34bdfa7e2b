"""Gather kernels: copy variable-length values and CSR row groups into new contiguous arrays.

Used wherever rows are reordered or selected (sorting a part by time, filtering query results)
and where the parser cuts message bytes out of a raw batch; by the part's `lines` value
encoding, which stores values each followed by a separator instead of a stream of lengths; and
`spans_equal`, which compares values in place (a part checks that fields it drops can be
derived again from the message).
"""

from __future__ import annotations

import numpy as np

from native_kernels.jit import kernel


@kernel
def _span_lengths(starts, ends, offsets):
    n = starts.shape[0]
    offsets[0] = 0
    for i in range(n):
        ln = ends[i] - starts[i]
        if starts[i] < 0 or ln < 0:
            ln = 0
        offsets[i + 1] = offsets[i] + ln


@kernel
def _copy_spans(data, starts, offsets, out):
    n = starts.shape[0]
    for i in range(n):
        s = starts[i]
        o = offsets[i]
        ln = offsets[i + 1] - o
        # A slice assignment compiles to a memcpy-like loop: ~3x a byte loop.
        out[o:o + ln] = data[s:s + ln]


def take_spans(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Copy `data[starts[i]:ends[i]]` for every i into one buffer: (offsets int64[n+1], bytes uint8).
    A span with start < 0 ("no value") becomes empty."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    offsets = np.empty(len(starts) + 1, np.int64)
    _span_lengths(starts, ends, offsets)
    out = np.empty(int(offsets[-1]), np.uint8)
    _copy_spans(data, starts, offsets, out)
    return offsets, out


def take_values(offsets: np.ndarray, data: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values `idx` of an (offsets, data) column, in that order."""
    idx = np.asarray(idx, dtype=np.int64)
    return take_spans(data, offsets[idx], offsets[idx + 1])


@kernel
def _csr_take(ptr, idx, new_ptr, members):
    pos = 0
    new_ptr[0] = 0
    for k in range(idx.shape[0]):
        r = idx[k]
        for j in range(ptr[r], ptr[r + 1]):
            members[pos] = j
            pos += 1
        new_ptr[k + 1] = pos


def csr_take(ptr: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows `idx` of a CSR grouping (row r owns items ptr[r]:ptr[r+1]):
    (new_ptr int64[len(idx)+1], item indexes int64 in the new order)."""
    ptr = np.ascontiguousarray(ptr, dtype=np.int64)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    sizes = ptr[idx + 1] - ptr[idx]
    new_ptr = np.empty(len(idx) + 1, np.int64)
    members = np.empty(int(sizes.sum()), np.int64)
    _csr_take(ptr, idx, new_ptr, members)
    return new_ptr, members


@kernel
def _join_lengths(a_s, a_e, b_s, b_e, offsets):
    offsets[0] = 0
    for i in range(a_s.shape[0]):
        la = a_e[i] - a_s[i] if a_s[i] >= 0 else 0
        lb = b_e[i] - b_s[i] if b_s[i] >= 0 else 0
        offsets[i + 1] = offsets[i] + la + (1 + lb if b_s[i] >= 0 else 0)


@kernel
def _join_copy(data, a_s, b_s, b_e, sep, offsets, out):
    for i in range(a_s.shape[0]):
        o = offsets[i]
        lb = b_e[i] - b_s[i] if b_s[i] >= 0 else -1
        la = offsets[i + 1] - o - (lb + 1 if lb >= 0 else 0)
        for j in range(la):
            out[o + j] = data[a_s[i] + j]
        if lb >= 0:
            out[o + la] = sep
            for j in range(lb):
                out[o + la + 1 + j] = data[b_s[i] + j]


def join_spans(data: np.ndarray, a_s, a_e, b_s, b_e, sep: int) -> tuple[np.ndarray, np.ndarray]:
    """`a + sep + b` for every i into one buffer (just `a` where b_s < 0): (offsets, bytes).
    Builds structured-data keys `<sd-id>.<param>` without a Python loop."""
    a_s, a_e, b_s, b_e = (np.ascontiguousarray(x, dtype=np.int64) for x in (a_s, a_e, b_s, b_e))
    offsets = np.empty(len(a_s) + 1, np.int64)
    _join_lengths(a_s, a_e, b_s, b_e, offsets)
    out = np.empty(int(offsets[-1]), np.uint8)
    _join_copy(data, a_s, b_s, b_e, np.uint8(sep), offsets, out)
    return offsets, out


# --- separator-terminated values (the `lines` encoding of a part's value streams) ------------


@kernel
def _join_terminated(offsets, data, sep, out):
    n = offsets.shape[0] - 1
    base = offsets[0]
    for i in range(n):
        s = offsets[i]
        e = offsets[i + 1]
        o = s - base + i
        out[o:o + e - s] = data[s:e]
        out[o + e - s] = sep


def join_terminated(offsets: np.ndarray, data: np.ndarray, sep: int) -> np.ndarray:
    """Values `data[offsets[i]:offsets[i + 1]]`, each followed by byte `sep`, in one buffer.
    The caller checks that no value contains `sep` (else `split_terminated` cannot undo it)."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    out = np.empty(int(offsets[-1] - offsets[0]) + n, np.uint8)
    _join_terminated(offsets, np.ascontiguousarray(data), np.uint8(sep), out)
    return out


def split_terminated(buf: np.ndarray, n: int, sep: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `join_terminated`: (offsets int64[n + 1], values uint8). Raises ValueError when
    `buf` does not hold exactly `n` values each ending in `sep`."""
    buf = np.ascontiguousarray(buf, dtype=np.uint8)
    # numpy finds the separators with SIMD compares (~10x a byte loop in a kernel); the copy
    # is then one slice per value.
    ends = np.flatnonzero(buf == sep)
    if len(ends) != n or (n and ends[-1] != len(buf) - 1) or (not n and len(buf)):
        raise ValueError(f"expected {n} values ending in {sep:#x}, found {len(ends)} separators in {len(buf)} bytes")
    starts = np.empty(n, np.int64)
    if n:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    offsets = np.empty(n + 1, np.int64)
    _span_lengths(starts, ends, offsets)
    out = np.empty(int(offsets[-1]), np.uint8)
    _copy_spans(buf, starts, offsets, out)
    return offsets, out


# --- comparing values ----------------------------------------------------------------------


@kernel
def _spans_equal(a, a_s, a_e, b, b_s, b_e, out):
    for i in range(a_s.shape[0]):
        ln = a_e[i] - a_s[i]
        same = ln == b_e[i] - b_s[i]
        j = 0
        while same and j < ln:
            same = a[a_s[i] + j] == b[b_s[i] + j]
            j += 1
        out[i] = same


def spans_equal(a: np.ndarray, a_s, a_e, b: np.ndarray, b_s, b_e) -> np.ndarray:
    """bool[n]: is `a[a_s[i]:a_e[i]]` the same bytes as `b[b_s[i]:b_e[i]]`? Spans must lie
    inside their buffers (checked)."""
    a_s, a_e, b_s, b_e = (np.ascontiguousarray(x, dtype=np.int64) for x in (a_s, a_e, b_s, b_e))
    if len({len(a_s), len(a_e), len(b_s), len(b_e)}) != 1:
        raise ValueError("span arrays must have one length")
    for buf, s, e in ((a, a_s, a_e), (b, b_s, b_e)):
        if len(s) and (s.min() < 0 or (e < s).any() or e.max() > len(buf)):
            raise ValueError("a span runs outside its buffer")
    out = np.empty(len(a_s), np.bool_)
    _spans_equal(np.ascontiguousarray(a), a_s, a_e, np.ascontiguousarray(b), b_s, b_e, out)
    return out


@kernel
def _append_value(src, s, e, new_data, b, new_off, p):
    """Copy src[s:e] to new_data at b as value p; returns the byte position after it."""
    for x in range(s, e):
        new_data[b] = src[x]
        b += 1
    new_off[p + 1] = b
    return b


@kernel
def _csr_append(ptr, off, data, add_rows, add_off, add_data, new_ptr, pos_old, pos_new, new_off, new_data):
    n = ptr.shape[0] - 1
    j = 0
    p = 0
    b = 0
    new_off[0] = 0
    for r in range(n):
        new_ptr[r] = p
        for k in range(ptr[r], ptr[r + 1]):
            pos_old[k] = p
            b = _append_value(data, off[k], off[k + 1], new_data, b, new_off, p)
            p += 1
        while j < add_rows.shape[0] and add_rows[j] == r:
            pos_new[j] = p
            b = _append_value(add_data, add_off[j], add_off[j + 1], new_data, b, new_off, p)
            p += 1
            j += 1
    new_ptr[n] = p


def csr_append(ptr: np.ndarray, off: np.ndarray, data: np.ndarray, add_rows: np.ndarray, add_off: np.ndarray,
               add_data: np.ndarray):
    """Add values to the ends of CSR row groups: row r's new values (rows `add_rows`, sorted,
    values (add_off, add_data)) follow its own. Returns (new_ptr, pos_old, pos_new, new_off,
    new_data): where each old and each added value went, for scattering per-value columns."""
    ptr = np.ascontiguousarray(ptr, np.int64)
    off = np.ascontiguousarray(off, np.int64)
    add_off = np.ascontiguousarray(add_off, np.int64)
    n_pairs = len(off) - 1 + len(add_rows)
    new_ptr = np.empty(len(ptr), np.int64)
    pos_old = np.empty(len(off) - 1, np.int64)
    pos_new = np.empty(len(add_rows), np.int64)
    new_off = np.empty(n_pairs + 1, np.int64)
    new_data = np.empty(int(off[-1] - off[0]) + int(add_off[-1]), np.uint8)
    _csr_append(ptr, off, data, np.ascontiguousarray(add_rows, np.int64), add_off, add_data,
                new_ptr, pos_old, pos_new, new_off, new_data)
    return new_ptr, pos_old, pos_new, new_off, new_data
