"""Gather kernels: copy variable-length values and CSR row groups into new contiguous arrays.

Used wherever rows are reordered or selected (sorting a part by time, filtering query results)
and where the parser cuts message bytes out of a raw batch.
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
