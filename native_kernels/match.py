"""Substring and equality tests over many byte spans at once: the kernels behind word, phrase,
prefix and field-value filters.

A span is `data[starts[i]:ends[i]]`, with -1/-1 for "no value" (the `check_spans` convention
of native_kernels.dictionary). Every kernel takes a candidate mask and looks only at candidate
rows: an AND of filters narrows the rows each later filter reads.

`find_in_spans` is one kernel for words, phrases and prefixes: it looks for a needle in each
span through a byte-folding table (lowercasing for case-insensitive search, identity
otherwise), and can require that the match starts and/or ends on a token boundary, i.e. that
the byte before/after it is not a token byte (the token rule of native_kernels.tokens). A word
search is then "needle with both boundaries, folded"; a phrase is "needle with both
boundaries, not folded"; a token prefix is "left boundary only".

How it goes fast: the first needle byte is looked for eight bytes at a time (SWAR: xor with the
byte in all lanes, then the classic has-zero-byte test), so most of a row is read as words and
only the positions where the first byte occurs are compared further.

For the regex scan (native_kernels.regex): `candidate_lines` says whether the candidate spans
lie as lines of their buffer (so hyperscan can read them there), `join_candidates` copies them
into one buffer of lines when they do not, and `rows_holding` turns the positions a scan
reported into the candidate rows holding them.
"""

from __future__ import annotations

import numpy as np

from native_kernels.dictionary import check_spans
from native_kernels.intrinsics import copy_bytes, trailing_zeros
from native_kernels.jit import kernel


def _make_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    identity = np.arange(256, dtype=np.uint8)
    lower = identity.copy()
    lower[ord("A") : ord("Z") + 1] += 32
    token = np.zeros(256, np.bool_)
    for b in range(256):
        c = bytes([b])
        token[b] = c.isalnum() or c == b"_" or b >= 0x80
    return identity, lower, token


# IDENTITY: case-sensitive; LOWER: ASCII letters lowercased (what tokens.py hashes);
# TOKEN_BYTE: the token rule of native_kernels.tokens (tests hold them equal).
IDENTITY, LOWER, TOKEN_BYTE = _make_tables()

_LANES_01 = np.uint64(0x0101010101010101)
_LANES_80 = np.uint64(0x8080808080808080)
_EIGHT = np.uint64(8)
_THREE = np.uint64(3)


@kernel
def _find(data, starts, ends, cand, needle, alt, fold, token, check_left, check_right, out):
    # needle is folded; `alt` is the other byte that folds to needle[0] (itself if none).
    m = needle.shape[0]
    first = needle[0]
    lanes_a = np.uint64(first) * _LANES_01
    lanes_b = np.uint64(alt) * _LANES_01
    size = data.shape[0]
    for i in range(starts.shape[0]):
        if not cand[i]:
            continue
        s = starts[i]
        e = ends[i]
        if s < 0 or e - s < m:
            continue
        last = e - m  # the last position a match may start at
        p = s
        found = False
        while p <= last and not found:
            # Skip eight bytes at a time while none of them can start a match.
            if p + 8 <= size and p + 8 <= last + 1:
                w = np.uint64(0)
                for j in range(8):
                    w |= np.uint64(data[p + j]) << (_EIGHT * np.uint64(j))
                xa = w ^ lanes_a
                xb = w ^ lanes_b
                hit = ((xa - _LANES_01) & ~xa & _LANES_80) | ((xb - _LANES_01) & ~xb & _LANES_80)
                if hit == 0:
                    p += 8
                    continue
                # Borrows may flag a lane past the first real hit, never one before it.
                p += np.int64(trailing_zeros(hit) >> _THREE)
            if fold[data[p]] == first:
                ok = True
                for j in range(1, m):
                    if fold[data[p + j]] != needle[j]:
                        ok = False
                        break
                if ok and check_left and p > s and token[data[p - 1]]:
                    ok = False
                if ok and check_right and p + m < e and token[data[p + m]]:
                    ok = False
                if ok:
                    found = True
            p += 1
        out[i] = found


def find_in_spans(
    data, starts, ends, cand, needle: bytes, ignore_case: bool, left_boundary: bool, right_boundary: bool
) -> np.ndarray:
    """bool[n]: candidate row i holds `needle` (folded when `ignore_case`), starting where the
    previous byte is not a token byte when `left_boundary`, and ending where the next byte is
    not one when `right_boundary`. Non-candidate rows are False. An empty needle matches every
    candidate row that has a value."""
    data, starts, ends = check_spans(data, starts, ends)
    cand = np.ascontiguousarray(cand, dtype=np.bool_)
    if cand.shape != starts.shape:
        raise ValueError(f"cand has shape {cand.shape}, spans {starts.shape}")
    if not needle:
        return cand & (starts >= 0)
    fold = LOWER if ignore_case else IDENTITY
    folded = fold[np.frombuffer(needle, np.uint8)]
    first = int(folded[0])
    alt = first - 32 if ignore_case and ord("a") <= first <= ord("z") else first
    out = np.zeros(len(starts), np.bool_)
    _find(data, starts, ends, cand, folded, np.uint8(alt), fold, TOKEN_BYTE, left_boundary, right_boundary, out)
    return out


@kernel
def _equal(data, starts, ends, cand, needle, prefix, out):
    m = needle.shape[0]
    for i in range(starts.shape[0]):
        if not cand[i]:
            continue
        s = starts[i]
        ln = ends[i] - s
        if s < 0 or ln < m or (not prefix and ln != m):
            continue
        ok = True
        for j in range(m):
            if data[s + j] != needle[j]:
                ok = False
                break
        out[i] = ok


def spans_equal(data, starts, ends, cand, value: bytes, prefix: bool = False) -> np.ndarray:
    """bool[n]: candidate row i's value equals `value` (starts with it when `prefix`)."""
    data, starts, ends = check_spans(data, starts, ends)
    cand = np.ascontiguousarray(cand, dtype=np.bool_)
    out = np.zeros(len(starts), np.bool_)
    _equal(data, starts, ends, cand, np.frombuffer(value, np.uint8), prefix, out)
    return out


@kernel
def _joined_size(starts, ends, cand):
    total = 0
    for i in range(starts.shape[0]):
        if cand[i] and starts[i] >= 0:
            total += ends[i] - starts[i] + 1
    return total


@kernel
def _join(data, starts, ends, cand, sep, out, row_start):
    pos = 0
    for i in range(starts.shape[0]):
        if cand[i] and starts[i] >= 0:
            ln = ends[i] - starts[i]
            row_start[i] = pos
            copy_bytes(out, pos, data, starts[i], ln)
            out[pos + ln] = sep
            pos += ln + 1
        else:
            row_start[i] = -1


def join_candidates(data, starts, ends, cand, sep: int = 0x0A) -> tuple[np.ndarray, np.ndarray]:
    """The candidate spans copied into one buffer, each followed by `sep`, for one regex scan:
    (buffer uint8, row_start int64[n] with -1 for rows left out)."""
    data, starts, ends = check_spans(data, starts, ends)
    cand = np.ascontiguousarray(cand, dtype=np.bool_)
    out = np.empty(_joined_size(starts, ends, cand), np.uint8)
    row_start = np.empty(len(starts), np.int64)
    _join(data, starts, ends, cand, np.uint8(sep), out, row_start)
    return out, row_start


def _candidate_rows(starts, ends, cand) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, cand) as the kernels below take them, checked to be 1-D of one length;
    the spans themselves are not checked here (see each kernel)."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    cand = np.ascontiguousarray(cand, dtype=np.bool_)
    if not (starts.shape == ends.shape == cand.shape) or starts.ndim != 1:
        raise ValueError(f"starts, ends and cand must be 1-D of one length: {starts.shape} {ends.shape} {cand.shape}")
    return starts, ends, cand


@kernel
def _candidate_lines(data, starts, ends, cand, sep):
    lo = data.shape[0]
    hi = 0
    held = 0
    for i in range(starts.shape[0]):
        if not cand[i]:
            continue
        s = starts[i]
        e = ends[i]
        if s < 0 or e < s or e >= data.shape[0] or data[e] != sep or (s > 0 and data[s - 1] != sep):
            return 0, 0, -1
        lo = min(lo, s)
        hi = max(hi, e + 1)
        held += e + 1 - s
    return lo, hi, held


def candidate_lines(data, starts, ends, cand, sep: int = 0x0A) -> tuple[int, int, int]:
    """(lo, hi, held): where the candidate spans lie as lines of `data`, for a scan that reads
    them where they lie instead of `join_candidates`' copy. Every candidate span must be a line:
    followed by `sep`, and preceded by `sep` or the start of `data` (the `lines` layout of a
    part's values, whatever order the rows' spans come in and whatever lies between them);
    then data[lo:hi] holds every candidate with its `sep`, and `held` of those bytes are the
    candidates'. held is -1 when a candidate is no line, 0 (and lo >= hi) when there is none."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    starts, ends, cand = _candidate_rows(starts, ends, cand)
    # The kernel checks each candidate's bounds itself: a span outside `data` is no line.
    lo, hi, held = _candidate_lines(data, starts, ends, cand, np.uint8(sep))
    return int(lo), int(hi), int(held)


# Points are looked up through buckets of 2**_BUCKET_BITS bytes (where each bucket's points
# begin): a row then costs a step or two, where a bisection over all points cost ten
# unpredictable branches (90 us for a block's 5,000 candidates, a third of its scan).
_BUCKET_BITS = 12


@kernel
def _rows_holding(starts, ends, cand, points, out):
    m = points.shape[0]
    if m == 0:
        return
    base = points[0]
    last = points[m - 1]
    buckets = ((last - base) >> _BUCKET_BITS) + 1
    first = np.empty(buckets + 1, np.int64)  # bucket k's points are first[k]:first[k + 1]
    a = 0
    for k in range(buckets + 1):
        while a < m and ((points[a] - base) >> _BUCKET_BITS) < k:
            a += 1
        first[k] = a
    for i in range(starts.shape[0]):
        if not cand[i]:
            continue
        s = starts[i]
        e = ends[i]
        if e < base or s > last:
            continue
        k = (s - base) >> _BUCKET_BITS if s > base else 0
        # The first point at or after s: in bucket k, by bisection, or else the next bucket's first.
        lo = first[k]
        hi = first[k + 1]
        while lo < hi:
            mid = (lo + hi) >> 1
            if points[mid] < s:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo < m and points[lo] <= e


def rows_holding(starts, ends, cand, points) -> np.ndarray:
    """bool[n]: candidate row i has a point p with starts[i] <= p <= ends[i] (its span, or the
    separator after it). `points` are ascending positions: where a scan of the rows' bytes
    found matches."""
    starts, ends, cand = _candidate_rows(starts, ends, cand)
    points = np.ascontiguousarray(points, dtype=np.int64)
    if len(points) > 1 and (points[1:] < points[:-1]).any():
        raise ValueError("points must be ascending")
    out = np.zeros(len(starts), np.bool_)
    _rows_holding(starts, ends, cand, points, out)
    return out
