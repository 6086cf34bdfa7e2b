"""Plain-Python references for the kernels in native_kernels/, written for clarity, not speed.

Each follows the rule as the module docstring states it, the most literal way (byte by byte,
Python ints, dicts and regexes), so that a kernel test compares a fast implementation with the
definition. The hash constants are repeated here on purpose: a change to them in the module is
a change to the on-disk format and must fail a test.

`batch` builds the kernels' input convention from a list of values, for every test.
"""

from __future__ import annotations

import math
import re

import numpy as np

# --- input convention ----------------------------------------------------------------------


def batch(values, junk=b"", order=None):
    """(data uint8, starts int64, ends int64) for rows `values` (bytes, or None = no value).

    `junk` goes before every value in `data` (so spans do not touch and bytes around a span
    are never part of it); `order` lays the values out in `data` in that order, so spans need
    not be increasing.
    """
    n = len(values)
    order = list(range(n)) if order is None else list(order)
    starts = np.full(n, -1, np.int64)
    ends = np.full(n, -1, np.int64)
    buf = bytearray()
    for i in order:
        buf += junk
        if values[i] is not None:
            starts[i] = len(buf)
            buf += values[i]
            ends[i] = len(buf)
    return np.frombuffer(bytes(buf), np.uint8), starts, ends


# --- hash (native_kernels.dictionary.hash_bytes) -------------------------------------------

_M64 = (1 << 64) - 1
_SEED = 0x9E3779B97F4A7C15
_M1 = 0x87C37B91114253D5
_M2 = 0x4CF5AD432745937F
_F1 = 0xFF51AFD7ED558CCD
_F2 = 0xC4CEB9FE1A85EC53


def _mix(h: int, w: int) -> int:
    h ^= (w * _M1) & _M64
    h = ((h << 31) | (h >> 33)) & _M64
    return (h * _M2) & _M64


def hash_bytes(b: bytes) -> int:
    """Little-endian 8-byte words (last one zero-padded) mixed in, then length, then fmix64."""
    h = _SEED
    for i in range(0, len(b), 8):
        h = _mix(h, int.from_bytes(b[i : i + 8], "little"))
    h ^= len(b)
    h ^= h >> 33
    h = (h * _F1) & _M64
    h ^= h >> 33
    h = (h * _F2) & _M64
    h ^= h >> 33
    return h


# --- dictionary ----------------------------------------------------------------------------


class Dictionary:
    """DictionaryEncoder with a dict."""

    def __init__(self, max_entries=1 << 16, max_bytes=16 << 20):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.epoch = 0
        self.ids: dict[bytes, int] = {}
        self.nbytes = 0

    def encode(self, values):
        if len(self.ids) > self.max_entries or self.nbytes > self.max_bytes:
            self.ids = {}
            self.nbytes = 0
            self.epoch += 1
        ids, new = [], []
        for v in values:
            if v is None:
                ids.append(0)
                continue
            if v not in self.ids:
                self.ids[v] = len(self.ids) + 1
                self.nbytes += len(v)
                new.append((self.ids[v], v))
            ids.append(self.ids[v])
        return ids, new


# --- key=value -----------------------------------------------------------------------------

_KEY_FIRST = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_KEY_BYTE = _KEY_FIRST | set(b"0123456789.-")
_BEFORE_KEY = set(b" \t,;([{|")
_VALUE_END = set(b" \t,;)]}")


def extract_kv_row(msg: bytes, max_pairs=64, max_key=128):
    """[(key, value)] of one message: every position tried as a key start, left to right."""
    out = []
    p = 0
    while p < len(msg) and len(out) < max_pairs:
        if (p == 0 or msg[p - 1] in _BEFORE_KEY) and msg[p] in _KEY_FIRST:
            q = p + 1
            while q < len(msg) and msg[q] in _KEY_BYTE:
                q += 1
            if q < len(msg) and msg[q] == ord("=") and q - p <= max_key and msg[q + 1 : q + 2] != b"=":
                v = q + 1
                if msg[v : v + 1] == b'"':
                    r = v + 1
                    while r < len(msg) and msg[r] != ord('"'):
                        r += 2 if msg[r] == ord("\\") else 1
                    if r < len(msg):
                        out.append((msg[p:q], msg[v + 1 : r]))
                        p = r + 1
                        continue
                r = v
                while r < len(msg) and msg[r] not in _VALUE_END:
                    r += 1
                out.append((msg[p:q], msg[v:r]))
                p = r
                continue
        p += 1
    return out


# --- tokens --------------------------------------------------------------------------------

_TOKEN = re.compile(rb"[A-Za-z0-9_\x80-\xff]+")


def tokens(msg: bytes) -> list[bytes]:
    """Maximal runs of ASCII letters/digits/_ or bytes >= 0x80, ASCII-lowercased."""
    return [t.lower() for t in _TOKEN.findall(msg)]


def token_hashes_row(msg: bytes) -> list[int]:
    return [hash_bytes(t) for t in tokens(msg)]


# --- bloom ---------------------------------------------------------------------------------


def _bloom_bit(h: int, i: int, nbits: int) -> int:
    h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1
    return ((h1 + i * h2) % 2**32) * nbits // 2**32


def build_bloom(hashes, bits_per_item=10) -> np.ndarray:
    distinct = {int(h) for h in hashes}
    nbits = max(512, math.ceil(len(distinct) * bits_per_item / 64) * 64)
    k = max(1, min(32, round(bits_per_item * math.log(2))))
    bits = [0] * (nbits // 64)
    for h in distinct:
        for i in range(k):
            b = _bloom_bit(h, i, nbits)
            bits[b // 64] |= 1 << (b % 64)
    header = k | 2 << 16
    return np.array([header, *bits], np.uint64)


def bloom_contains(words: np.ndarray, h: int) -> bool:
    k = int(words[0]) & 0xFF
    nbits = 64 * (len(words) - 1)
    for i in range(k):
        b = _bloom_bit(h, i, nbits)
        if not int(words[1 + b // 64]) >> (b % 64) & 1:
            return False
    return True


# --- gather.py: separator-terminated values ------------------------------------------------


def join_terminated(values: list[bytes], sep: int) -> bytes:
    return b"".join(v + bytes([sep]) for v in values)


def split_terminated(buf: bytes, sep: int) -> list[bytes]:
    parts = buf.split(bytes([sep]))
    assert parts[-1] == b""
    return parts[:-1]
