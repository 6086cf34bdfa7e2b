"""Many roaring bitmaps serialized in one call (`encode_bitmaps`), byte for byte as pyroaring's
`BitMap(rows)`, `run_optimize()`, `serialize()` (the portable format), and rows grouped by a
code (`group_rows`) to feed it.

A part's index holds a bitmap per value of each column: tens of thousands for a merge's field
keys, and a Python call into pyroaring per value was most of building them. Here each group of
rows is split into 65536-row containers, each container takes the form CRoaring's run_optimize
leaves it in (an array of up to 4096 u16, else a 8 KiB bitset, or runs when those are smaller),
and the portable layout is written: cookie, run-container flags, (key, cardinality - 1) per
container, offsets (absent when runs are present and there are fewer than 4 containers), then
the containers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from native_kernels.jit import kernel

_COOKIE_NO_RUNS = 12346
_COOKIE_RUNS = 12347
_NO_OFFSET_THRESHOLD = 4
_ARRAY_MAX = 4096
_BITSET_BYTES = 8192
_ARRAY, _BITSET, _RUN = 0, 1, 2


@kernel
def _container(rows, a, end):
    """(end of the container starting at rows[a], its kind, its cardinality, its runs)."""
    key = rows[a] >> 16
    b = a + 1
    runs = 1
    while b < end and (rows[b] >> 16) == key:
        if rows[b] != rows[b - 1] + 1:
            runs += 1
        b += 1
    card = b - a
    run_size = 2 + 4 * runs
    if card <= _ARRAY_MAX:
        kind = _RUN if run_size < 2 * card else _ARRAY
    else:
        kind = _RUN if run_size < _BITSET_BYTES else _BITSET
    return b, kind, card, runs


@kernel
def _body_size(kind, card, runs):
    if kind == _ARRAY:
        return 2 * card
    if kind == _BITSET:
        return _BITSET_BYTES
    return 2 + 4 * runs


@kernel
def _layout(rows, ends):
    """Serialized size of each group (sizes int64[g]), or a negative code when the rows are
    not as `encode_bitmaps` needs them: -1 a group not strictly ascending, -2 a row out of
    [0, 2^32)."""
    g = ends.shape[0] - 1
    sizes = np.zeros(g, np.int64)
    for i in range(g):
        for j in range(ends[i], ends[i + 1]):
            if rows[j] < 0 or rows[j] > 0xFFFFFFFF:
                sizes[0] = -2
                return sizes
            if j > ends[i] and rows[j] <= rows[j - 1]:
                sizes[0] = -1
                return sizes
        a, end = ends[i], ends[i + 1]
        n = 0
        has_run = False
        body = 0
        while a < end:
            b, kind, card, runs = _container(rows, a, end)
            n += 1
            has_run = has_run or kind == _RUN
            body += _body_size(kind, card, runs)
            a = b
        if has_run:
            head = 4 + (n + 7) // 8 + 4 * n + (4 * n if n >= _NO_OFFSET_THRESHOLD else 0)
        else:
            head = 8 + 8 * n
        sizes[i] = head + body
    return sizes


@kernel
def _put16(out, at, v):
    out[at] = v & 0xFF
    out[at + 1] = (v >> 8) & 0xFF


@kernel
def _put32(out, at, v):
    out[at] = v & 0xFF
    out[at + 1] = (v >> 8) & 0xFF
    out[at + 2] = (v >> 16) & 0xFF
    out[at + 3] = (v >> 24) & 0xFF


@kernel
def _write(rows, ends, offsets, out):
    g = ends.shape[0] - 1
    for i in range(g):
        start, end = ends[i], ends[i + 1]
        # Pass 1 over the group: the containers' count and whether any is runs.
        n = 0
        has_run = False
        a = start
        while a < end:
            b, kind, card, runs = _container(rows, a, end)
            n += 1
            has_run = has_run or kind == _RUN
            a = b
        at = offsets[i]
        if has_run:
            _put32(out, at, _COOKIE_RUNS | ((n - 1) << 16))
            flags_at = at + 4
            for k in range((n + 7) // 8):
                out[flags_at + k] = 0
            desc_at = flags_at + (n + 7) // 8
            with_offsets = n >= _NO_OFFSET_THRESHOLD
        else:
            _put32(out, at, _COOKIE_NO_RUNS)
            _put32(out, at + 4, n)
            flags_at = 0
            desc_at = at + 8
            with_offsets = True
        offsets_at = desc_at + 4 * n
        body_at = offsets_at + (4 * n if with_offsets else 0)
        # Pass 2: descriptions, offsets (from the blob's start) and bodies.
        a = start
        k = 0
        while a < end:
            b, kind, card, runs = _container(rows, a, end)
            _put16(out, desc_at + 4 * k, rows[a] >> 16)
            _put16(out, desc_at + 4 * k + 2, card - 1)
            if with_offsets:
                _put32(out, offsets_at + 4 * k, body_at - at)
            if kind == _RUN:
                out[flags_at + k // 8] |= 1 << (k % 8)
                _put16(out, body_at, runs)
                p = body_at + 2
                r0 = a
                for j in range(a + 1, b + 1):
                    if j == b or rows[j] != rows[j - 1] + 1:
                        _put16(out, p, rows[r0] & 0xFFFF)
                        _put16(out, p + 2, j - r0 - 1)
                        p += 4
                        r0 = j
            elif kind == _ARRAY:
                for j in range(a, b):
                    _put16(out, body_at + 2 * (j - a), rows[j] & 0xFFFF)
            else:
                out[body_at : body_at + _BITSET_BYTES] = 0
                for j in range(a, b):
                    low = rows[j] & 0xFFFF
                    out[body_at + (low >> 3)] |= 1 << (low & 7)
            body_at += _body_size(kind, card, runs)
            a = b
            k += 1


def encode_bitmaps(rows: npt.NDArray[np.integer], ends: npt.NDArray[np.integer]) -> tuple[bytes, npt.NDArray[np.int64]]:
    """(blob, offsets int64[g + 1]): group i, `rows[ends[i]:ends[i + 1]]` (strictly ascending
    row numbers below 2^32, not empty), serialized as pyroaring would after run_optimize is
    `blob[offsets[i]:offsets[i + 1]]`."""
    if rows.dtype not in (np.uint32, np.int64):
        rows = rows.astype(np.int64)
    rows = np.ascontiguousarray(rows)
    ends = np.ascontiguousarray(ends, np.int64)
    if len(ends) < 1 or ends[0] != 0 or ends[-1] != len(rows) or np.any(ends[1:] <= ends[:-1]):
        raise ValueError("group ends must run from 0 to len(rows), each group not empty")
    sizes = _layout(rows, ends)
    if len(sizes) and sizes[0] == -1:
        raise ValueError("each group's rows must be strictly ascending")
    if len(sizes) and sizes[0] == -2:
        raise ValueError("row numbers must be in [0, 2^32)")
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    out = np.empty(int(offsets[-1]), np.uint8)
    _write(rows, ends, offsets, out)
    return out.tobytes(), offsets


@kernel
def _counting_sort(codes, n_codes, rows_of):
    ptr = np.zeros(n_codes + 1, np.int64)
    for c in codes:
        ptr[c + 1] += 1
    for c in range(n_codes):
        ptr[c + 1] += ptr[c]
    fill = ptr[:n_codes].copy()
    out = np.empty(codes.shape[0], rows_of.dtype)
    for i in range(codes.shape[0]):
        c = codes[i]
        out[fill[c]] = rows_of[i]
        fill[c] += 1
    return ptr, out


def group_rows(
    codes: npt.NDArray[np.integer], n_codes: int, rows_of: npt.NDArray[np.integer]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(present codes, ends, rows): the `rows_of` of each code in [0, n_codes) that occurs, code
    i's being `rows[ends[i]:ends[i + 1]]`, in their order in `rows_of` (a stable counting sort:
    O(rows + n_codes))."""
    codes = np.ascontiguousarray(codes, np.int64)
    if len(codes) and (codes.min() < 0 or codes.max() >= n_codes):
        raise ValueError(f"codes must be in [0, {n_codes})")
    ptr, rows = _counting_sort(codes, int(n_codes), np.ascontiguousarray(rows_of))
    present = np.flatnonzero(ptr[1:] > ptr[:-1])
    ends = np.concatenate([[0], ptr[present + 1]]).astype(np.int64)
    return present.astype(np.int64), ends, rows
