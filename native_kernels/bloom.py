"""Bloom filters of token hashes (one per message frame of a block): may these rows hold a row
with all these words? `each_contains_all` probes a part's every filter, laid back to back, in one
call.

A filter is one uint64 array, stored as it is in a part:

| word  | bits   | meaning                                                          |
|-------|--------|------------------------------------------------------------------|
| 0     | 0-7    | k, the number of bits set per item (1..32)                       |
| 0     | 8-15   | zero (version 1 kept log2 of the bit count here)                 |
| 0     | 16-23  | format version, FORMAT_VERSION                                   |
| 0     | 24-63  | zero                                                             |
| 1..W  |        | the bits, m = 64 * W of them; bit b is word 1 + b // 64, bit b % 64 |

The bit count m is distinct hashes * bits_per_item rounded up to a whole word (at least
MIN_BITS); k = round(bits_per_item * ln 2), the k that minimises the false-positive rate at
bits_per_item. Item h sets bits reduce(h1 + i * h2) for i < k, with h1 = the low 32 bits of h,
h2 = the high 32 bits | 1 (double hashing, Kirsch and Mitzenmacher), and reduce(x) =
((x mod 2**32) * m) >> 32, which maps 32 bits onto [0, m) without a division (Lemire's
"fastrange"). So any m works, not only powers of two: version 1 rounded m up to a power of two,
which cost up to twice the bits per item asked for (a part's index size is budgeted, see
engine/store/index_build.py). This needs h to be a well-mixed 64-bit hash, which token hashes are
(tokens.py).

Measured false-positive rate (tests/native_kernels/test_bloom.py), 10 bits per item, 100k
items, k = 7: about 0.8% on random hashes and on token hashes of distinct words (theory:
0.82%). There are never false negatives.
"""

from __future__ import annotations

import math

import numpy as np

from native_kernels.jit import kernel

FORMAT_VERSION = 2
# 512 bits: below that the filter costs less to skip than to read, and the header dominates.
MIN_BITS = 512
# reduce() scales a 32-bit value by m, so m must fit in 32 bits (512 MiB: far past any block).
MAX_BITS = (1 << 32) - 64
MAX_K = 32

_LOW32 = np.uint64(0xFFFFFFFF)
_THIRTY_TWO = np.uint64(32)
_SIX = np.uint64(6)
_SIXTY_THREE = np.uint64(63)
_ONE = np.uint64(1)
# Fibonacci hashing for the distinct-count set, so that it works on any input, mixed or not.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@kernel
def _distinct(hashes):
    # The distinct hashes, in no particular order: a block repeats its tokens many times over,
    # so sizing the filter and filling it from these is cheaper than from all of them.
    # Open-addressing set (linear probing, load <= 0.5, grown by doubling); 0 marks an empty
    # slot, so a hash of 0 is kept on the side.
    log2 = 10
    slots = np.zeros(1 << log2, np.uint64)
    distinct = 0
    zero_seen = False
    for i in range(hashes.shape[0]):
        h = hashes[i]
        if h == 0:
            zero_seen = True
            continue
        mask = np.uint64(slots.shape[0] - 1)
        j = (h * _GOLDEN) >> np.uint64(64 - log2)
        while slots[j] != 0 and slots[j] != h:
            j = (j + _ONE) & mask
        if slots[j] == h:
            continue
        slots[j] = h
        distinct += 1
        if 2 * distinct > slots.shape[0]:
            log2 += 1
            bigger = np.zeros(1 << log2, np.uint64)
            bigger_mask = np.uint64(bigger.shape[0] - 1)
            for x in slots:
                if x != 0:
                    j = (x * _GOLDEN) >> np.uint64(64 - log2)
                    while bigger[j] != 0:
                        j = (j + _ONE) & bigger_mask
                    bigger[j] = x
            slots = bigger
    out = np.empty(distinct + (1 if zero_seen else 0), np.uint64)
    n = 0
    for x in slots:
        if x != 0:
            out[n] = x
            n += 1
    if zero_seen:
        out[n] = 0
    return out


@kernel
def _fill(bits, hashes, k, m):
    for i in range(hashes.shape[0]):
        h = hashes[i]
        h1 = h & _LOW32
        h2 = (h >> _THIRTY_TWO) | _ONE
        for r in range(k):
            b = (((h1 + np.uint64(r) * h2) & _LOW32) * m) >> _THIRTY_TWO
            bits[b >> _SIX] |= _ONE << (b & _SIXTY_THREE)


@kernel
def _contains_all(bits, hashes, k, m):
    for i in range(hashes.shape[0]):
        h = hashes[i]
        h1 = h & _LOW32
        h2 = (h >> _THIRTY_TWO) | _ONE
        for r in range(k):
            b = (((h1 + np.uint64(r) * h2) & _LOW32) * m) >> _THIRTY_TWO
            if (bits[b >> _SIX] & (_ONE << (b & _SIXTY_THREE))) == 0:
                return False
    return True


def _k_for(bits_per_item: int) -> int:
    return min(MAX_K, max(1, round(bits_per_item * math.log(2))))


def build_bloom(hashes: np.ndarray, bits_per_item: int = 10, more: np.ndarray | None = None) -> np.ndarray:
    """The filter of a block's token hashes (uint64, duplicates welcome), laid out as above;
    `more`: further items (uint64, a few), added after `hashes` are made distinct, so that a
    handful of extra items does not cost a second pass over every token."""
    hashes = np.ascontiguousarray(hashes)
    if hashes.ndim != 1 or hashes.dtype != np.uint64:
        raise ValueError(f"hashes must be a 1-D uint64 array, got {hashes.dtype} with shape {hashes.shape}")
    if not 1 <= bits_per_item <= 64:
        raise ValueError(f"bits_per_item must be in 1..64, got {bits_per_item}")
    distinct = _distinct(hashes)
    if more is not None and len(more):
        # Made distinct apart and joined: `distinct` comes out in the set's slot order, and
        # inserting it into a fresh set in that order makes long probe runs (~20x slower). An
        # item of `more` equal to one of `hashes` would only be counted twice (a bit more room).
        distinct = np.concatenate([distinct, _distinct(np.ascontiguousarray(more, np.uint64))])
    wanted = distinct.size * bits_per_item
    nbits = max(MIN_BITS, (wanted + 63) // 64 * 64)
    if nbits > MAX_BITS:
        raise ValueError(f"{wanted} bits is more than a bloom filter may hold ({MAX_BITS})")
    k = _k_for(bits_per_item)
    words = np.zeros(1 + nbits // 64, np.uint64)
    words[0] = k | (FORMAT_VERSION << 16)
    _fill(words[1:], distinct, k, np.uint64(nbits))
    return words


def _unpack(words) -> tuple[np.ndarray, int, np.uint64]:
    # Check a filter (it may come from disk) and return (bits, k, bit count).
    if not isinstance(words, np.ndarray) or words.ndim != 1 or words.dtype != np.uint64 or words.size < 2:
        raise ValueError("a bloom filter is a 1-D uint64 array of at least 2 words")
    # The rules of check_filters, for one filter in scalars: this runs per block of a query on
    # parts of index version 4 and older, where the vectorized check costs ten times more.
    header = int(words[0])
    k, version = header & 0xFF, (header >> 16) & 0xFF
    nbits = 64 * (words.size - 1)
    if (
        version != FORMAT_VERSION
        or header >> 24
        or (header >> 8) & 0xFF
        or not 1 <= k <= MAX_K
        or not MIN_BITS <= nbits <= MAX_BITS
    ):
        raise ValueError(f"damaged bloom filter: header {header:#x} for {words.size} words")
    return np.ascontiguousarray(words[1:]), k, np.uint64(nbits)


def _hash_array(hashes) -> np.ndarray:
    """The hashes to probe, checked: a 1-D uint64 array."""
    hashes = np.ascontiguousarray(hashes)
    if hashes.ndim != 1 or hashes.dtype != np.uint64:
        raise ValueError(f"hashes must be a 1-D uint64 array, got {hashes.dtype} with shape {hashes.shape}")
    return hashes


def bloom_contains(words: np.ndarray, h: int) -> bool:
    """False if hash h was certainly not added to the filter; True if it may have been."""
    bits, k, nbits = _unpack(words)
    return bool(_contains_all(bits, np.array([h], np.uint64), k, nbits))


def bloom_contains_all(words: np.ndarray, hashes: np.ndarray) -> bool:
    """True if every hash may be in the filter (for phrases and ANDs of words); True if none."""
    bits, k, nbits = _unpack(words)
    return bool(_contains_all(bits, _hash_array(hashes), k, nbits))


# --- many filters at once: a part's filters laid back to back --------------------------------


@kernel
def _each_contains_all(words, ends, hashes, out):
    for f in range(out.shape[0]):
        a = ends[f]
        b = ends[f + 1]
        k = np.int64(words[a] & np.uint64(0xFF))
        out[f] = _contains_all(words[a + 1 : b], hashes, k, np.uint64(64 * (b - a - 1)))


def check_filters(words: np.ndarray, ends: np.ndarray) -> None:
    """Raise ValueError unless filter f, `words[ends[f]:ends[f + 1]]`, is a sound filter for
    every f (its header's version, k and size, as `_unpack` checks one): once per set of filters
    read from disk, so that `each_contains_all` need not check them on every probe."""
    if words.ndim != 1 or words.dtype != np.uint64 or ends.ndim != 1 or len(ends) < 1:
        raise ValueError("filters are a 1-D uint64 array with 1-D ends")
    ends = ends.astype(np.int64)
    sizes = np.diff(ends)
    if ends[0] != 0 or ends[-1] != words.size or (sizes < 2).any():
        raise ValueError("filter ends do not cut the words into filters of at least 2 words")
    header = words[ends[:-1]]
    k = header & np.uint64(0xFF)
    nbits = 64 * (sizes - 1)
    bad = (
        ((header >> np.uint64(16)) & np.uint64(0xFF) != FORMAT_VERSION)
        | (header >> np.uint64(24) != 0)
        | ((header >> np.uint64(8)) & np.uint64(0xFF) != 0)
        | (k < 1)
        | (k > MAX_K)
        | (nbits < MIN_BITS)
        | (nbits > MAX_BITS)
    )
    if bad.any():
        f = int(np.flatnonzero(bad)[0])
        raise ValueError(f"damaged bloom filter {f}: header {int(header[f]):#x} for {int(sizes[f])} words")


def each_contains_all(words: np.ndarray, ends: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """bool per filter: whether filter f (`words[ends[f]:ends[f + 1]]`, checked by
    `check_filters`) may hold every hash; all True when no hash is given. One call for a part's
    every filter: a probe is a few ns, a Python call per filter a few µs."""
    out = np.ones(len(ends) - 1, np.bool_)
    _each_contains_all(np.ascontiguousarray(words), np.ascontiguousarray(ends, np.int64), _hash_array(hashes), out)
    return out
