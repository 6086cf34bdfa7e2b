"""A cheap guess at each message's template: a hash of its first few words that hold no digit.

Used to cut a block's messages into frames of one kind (`engine.store.value_frames`): lines of
one template share their words, so a phrase or regex whose candidate rows the token bitmaps
name reads the frames of those rows only, and zstd finds longer matches among alike lines.
`Failed password for root from 10.0.0.1 port 22 ssh2` and `Failed password for bob from ...`
both key on `failed password` (with `for`); `[1234.5] Out of memory: Killed process 42`
on `out of`; an nginx line starting with an address on its method and path words. The key
is only a layout hint: a wrong guess costs a little compression or read time, never a result.

Words are the tokens of native_kernels.tokens (letters, digits, `_`, bytes >= 0x80), compared
case-insensitively; a word with a digit is a variable (a pid, an address, a time) and skipped.
"""

from __future__ import annotations

import numpy as np

from native_kernels.dictionary import check_spans
from native_kernels.jit import kernel
from native_kernels.tokens import _FOLD

# How many digit-free words make the key, and how far into the line to look for them.
KEY_WORDS = 3
MAX_SCAN_BYTES = 96
# FNV-1a, 64 bits: one multiply a byte (a layout hint needs no stronger hash).
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@kernel
def _keys(data, starts, ends, fold, key_words, max_scan, out):
    for i in range(starts.shape[0]):
        s = starts[i]
        e = ends[i]
        h = _FNV_OFFSET
        if s < 0:
            out[i] = h
            continue
        if e - s > max_scan:
            e = s + max_scan
        words = 0
        p = s
        while p < e and words < key_words:
            while p < e and fold[data[p]] == 0:
                p += 1
            q = p
            digit = False
            while q < e and fold[data[q]] != 0:
                c = data[q]
                if 48 <= c <= 57:
                    digit = True
                q += 1
            if q > p and not digit and (q < e or q == ends[i]):
                for k in range(p, q):
                    h = (h ^ np.uint64(fold[data[k]])) * _FNV_PRIME
                h = (h ^ np.uint64(32)) * _FNV_PRIME  # a word boundary
                words += 1
            p = q
        out[i] = h


def template_keys(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """uint64 per row: the hash of its first KEY_WORDS digit-free words (within the first
    MAX_SCAN_BYTES bytes; a word cut by that limit does not count). Rows with no value or no
    such word share one key."""
    data, starts, ends = check_spans(data, starts, ends)
    out = np.empty(len(starts), np.uint64)
    _keys(data, starts, ends, _FOLD, KEY_WORDS, MAX_SCAN_BYTES, out)
    return out
