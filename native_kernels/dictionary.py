"""Dictionary encoding of byte strings: one uint32 id per row, from a hash table kept across batches.

Also home of `hash_bytes`, the 64-bit byte hash all kernels share (token hashes are built from it).

How it works. The table is open addressing with linear probing over a power-of-two array of
slots; a slot holds an entry id (0 = empty). Entry i (id i + 1) keeps its hash in
`entry_hash[i]` and its bytes in `pool[entry_off[i]:entry_off[i + 1]]`, a byte arena the encoder
owns, so a row's value never points into a batch that is gone. The kernel grows every array by
doubling as it goes (slots are rehashed from `entry_hash` once more than half are used), so one
call handles any batch and the Python side only swaps in the arrays it gets back.

Memory is bounded by the encoder, not the kernel: high-cardinality values (procid, source)
would otherwise grow the table with uptime, so `encode` resets the table at the start of a call
once it holds more than `max_entries` entries or `max_bytes` bytes, and bumps `epoch`. A reader
of the ids therefore needs (epoch, id), and the new entries every call returns, to decode them.

Hash. `hash_bytes` reads 8 bytes at a time (little-endian words, the last one zero-padded),
folds each word into the state with a multiply and a rotate, then mixes in the length and
finishes with murmur3's fmix64 so that every output bit depends on every input bit (bloom
filters take their bit positions from both halves of it). It is stable across processes and
versions of this module (token hashes are stored on disk in bloom filters): changing it is a
format change. It is not keyed, so crafted input can collide on purpose; that costs probe time,
never correctness (equal hashes are always confirmed byte by byte). Hot kernels (here and in
tokens.py) write its loop out with `hash_mix`/`hash_finish` instead of calling it: numba adds an
atomic reference-count pair to every call that passes an array, as much as hashing a short
value costs. Tests hold every copy equal to `hash_bytes` and to a pinned value.

Thread safety: a `DictionaryEncoder` is owned by one thread; the kernels themselves hold no
state and release the GIL.
"""

from __future__ import annotations

import numpy as np

from native_kernels.jit import kernel

# --- the shared byte hash ------------------------------------------------------------------

# Odd 64-bit constants (the golden ratio and murmur3/xxhash primes): multiplying by them is a
# bijection on uint64 that spreads low input bits to high output bits.
HASH_SEED = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0x87C37B91114253D5)
_M2 = np.uint64(0x4CF5AD432745937F)
_F1 = np.uint64(0xFF51AFD7ED558CCD)
_F2 = np.uint64(0xC4CEB9FE1A85EC53)
# numba turns a mix of uint64 and int literals into float64, so every constant is a uint64.
_R31 = np.uint64(31)
_R33 = np.uint64(33)
_EIGHT = np.uint64(8)


@kernel
def hash_mix(h, w):
    """Fold one 8-byte little-endian word `w` into the hash state `h` (both uint64)."""
    h ^= w * _M1
    h = (h << _R31) | (h >> _R33)
    return h * _M2


@kernel
def hash_finish(h, length):
    """Turn the state after all words into the hash of a `length`-byte string."""
    h ^= np.uint64(length)
    h ^= h >> _R33
    h *= _F1
    h ^= h >> _R33
    h *= _F2
    h ^= h >> _R33
    return h


@kernel
def hash_bytes(data, s, e):
    """64-bit hash of `data[s:e]` (uint8 array); `hash_finish(fold of its words, e - s)`."""
    # Unsigned indexes: numba skips its negative-index wraparound, and LLVM then fuses the
    # eight byte loads of a word into one unaligned load (2x faster on short strings).
    h = HASH_SEED
    p = np.uint64(s)
    end = np.uint64(e)
    while p + _EIGHT <= end:
        w = np.uint64(0)
        for j in range(8):
            w |= np.uint64(data[p + np.uint64(j)]) << (_EIGHT * np.uint64(j))
        h = hash_mix(h, w)
        p += _EIGHT
    if p < end:
        w = np.uint64(0)
        shift = np.uint64(0)
        while p < end:
            w |= np.uint64(data[p]) << shift
            shift += _EIGHT
            p += np.uint64(1)
        h = hash_mix(h, w)
    return hash_finish(h, e - s)


@kernel
def _hash_spans(data, starts, ends, out):
    for i in range(starts.shape[0]):
        # (np.uint64(0), not 0: numba would unify uint64 and int into float64)
        out[i] = hash_bytes(data, starts[i], ends[i]) if starts[i] >= 0 else np.uint64(0)


def hash_spans(data, starts, ends) -> np.ndarray:
    """`hash_bytes` of every span (uint64[n]; 0 for "no value"): grouping values without
    building a dictionary, e.g. counting a field's distinct values in a part (store/index_build.py)."""
    data, starts, ends = check_spans(data, starts, ends)
    out = np.empty(len(starts), np.uint64)
    _hash_spans(data, starts, ends, out)
    return out


# --- span validation, shared by every wrapper over (data, starts, ends) ---------------------


@kernel
def _first_bad_span(starts, ends, size):
    # The validation pass itself, as a kernel: one loop instead of six numpy temporaries
    # (0.05 ms instead of 0.3 ms per 100k rows, which is a sixth of the dictionary's budget).
    for i in range(starts.shape[0]):
        s = starts[i]
        e = ends[i]
        if s == -1 and e == -1:
            continue
        if s < 0 or s > e or e > size:
            return i
    return -1


def check_spans(data, starts, ends):
    """Validate a batch's (data, starts, ends) and return them as contiguous uint8/int64 arrays.

    `data` is 1-D uint8; `starts`/`ends` are 1-D int64 of one length; each row is a span
    0 <= start <= end <= len(data), or start == end == -1 for "no value". Raises ValueError.
    """
    data = np.asarray(data)
    starts = np.asarray(starts)
    ends = np.asarray(ends)
    if data.ndim != 1 or data.dtype != np.uint8:
        raise ValueError(f"data must be a 1-D uint8 array, got {data.dtype} with shape {data.shape}")
    if starts.ndim != 1 or ends.shape != starts.shape:
        raise ValueError(f"starts and ends must be 1-D of one length, got {starts.shape} and {ends.shape}")
    if starts.dtype != np.int64 or ends.dtype != np.int64:
        raise ValueError(f"starts and ends must be int64, got {starts.dtype} and {ends.dtype}")
    data, starts, ends = np.ascontiguousarray(data), np.ascontiguousarray(starts), np.ascontiguousarray(ends)
    i = _first_bad_span(starts, ends, data.size)
    if i >= 0:
        raise ValueError(
            f"row {i}: span [{starts[i]}, {ends[i]}) is neither -1/-1 nor inside data of {data.size} bytes"
        )
    return data, starts, ends


# --- the encoder ---------------------------------------------------------------------------

# First allocation; the kernel doubles from here, so these only avoid regrowing tiny tables.
_INITIAL_SLOTS = 1 << 10
_INITIAL_ENTRIES = 1 << 9
_INITIAL_POOL = 1 << 14


@kernel
def _grow_table(slots, entry_hash, n_entries):
    # Double the slot array and rehash every entry; keeps the load factor at or under 0.5.
    new = np.zeros(slots.shape[0] * 2, np.uint32)
    mask = np.uint64(new.shape[0] - 1)
    for i in range(n_entries):
        slot = entry_hash[i] & mask
        while new[slot] != 0:
            slot = (slot + np.uint64(1)) & mask
        new[slot] = np.uint32(i + 1)
    return new


@kernel
def _encode(data, starts, ends, slots, entry_hash, entry_off, pool, n_entries):
    n = starts.shape[0]
    ids = np.zeros(n, np.uint32)
    mask = np.uint64(slots.shape[0] - 1)
    for i in range(n):
        s = starts[i]
        e = ends[i]
        if s < 0:
            continue  # no value: id 0
        length = e - s
        # hash_bytes(data, s, e), written out (see the module docstring).
        h = HASH_SEED
        p = np.uint64(s)
        end = np.uint64(e)
        while p + _EIGHT <= end:
            w = np.uint64(0)
            for j in range(8):
                w |= np.uint64(data[p + np.uint64(j)]) << (_EIGHT * np.uint64(j))
            h = hash_mix(h, w)
            p += _EIGHT
        if p < end:
            w = np.uint64(0)
            shift = np.uint64(0)
            while p < end:
                w |= np.uint64(data[p]) << shift
                shift += _EIGHT
                p += np.uint64(1)
            h = hash_mix(h, w)
        h = hash_finish(h, length)
        slot = h & mask
        while True:
            eid = slots[slot]
            if eid == 0:
                break
            k = eid - 1
            if entry_hash[k] == h and entry_off[k + 1] - entry_off[k] == length:
                # Equal hashes: confirm the bytes, a word at a time, then the tail (written
                # out for the same reason as the hash).
                a = np.uint64(entry_off[k])
                b = np.uint64(s)
                stop = b + np.uint64(length)
                same = True
                while b + _EIGHT <= stop:
                    wa = np.uint64(0)
                    wb = np.uint64(0)
                    for j in range(8):
                        wa |= np.uint64(pool[a + np.uint64(j)]) << (_EIGHT * np.uint64(j))
                        wb |= np.uint64(data[b + np.uint64(j)]) << (_EIGHT * np.uint64(j))
                    if wa != wb:
                        same = False
                        break
                    a += _EIGHT
                    b += _EIGHT
                while same and b < stop:
                    same = pool[a] == data[b]
                    a += np.uint64(1)
                    b += np.uint64(1)
                if same:
                    break
            slot = (slot + np.uint64(1)) & mask
        if eid != 0:
            ids[i] = eid
            continue
        # A new value: append it to the entry arrays and the pool, growing them as needed.
        if n_entries == entry_hash.shape[0]:
            bigger_hash = np.empty(entry_hash.shape[0] * 2, np.uint64)
            bigger_hash[:n_entries] = entry_hash[:n_entries]
            entry_hash = bigger_hash
            bigger_off = np.empty(entry_off.shape[0] * 2, np.int64)
            bigger_off[: n_entries + 1] = entry_off[: n_entries + 1]
            entry_off = bigger_off
        used = entry_off[n_entries]
        if used + length > pool.shape[0]:
            size = pool.shape[0] * 2
            while used + length > size:
                size *= 2
            bigger_pool = np.empty(size, np.uint8)
            bigger_pool[:used] = pool[:used]
            pool = bigger_pool
        pool[used : used + length] = data[s:e]
        entry_hash[n_entries] = h
        entry_off[n_entries + 1] = used + length
        n_entries += 1
        slots[slot] = np.uint32(n_entries)
        ids[i] = np.uint32(n_entries)
        if 2 * n_entries > slots.shape[0]:
            slots = _grow_table(slots, entry_hash, n_entries)
            mask = np.uint64(slots.shape[0] - 1)
    return ids, slots, entry_hash, entry_off, pool, n_entries


class DictionaryEncoder:
    """Maps byte strings to small ids that stay stable across batches until the next reset.

    ids are uint32: 0 is "no value", values get 1, 2, ... in order of first appearance since
    the last reset. `epoch` counts resets; an id means something only together with its epoch.
    Not thread-safe: one encoder per parser thread.
    """

    def __init__(self, max_entries: int = 1 << 16, max_bytes: int = 16 << 20):
        if max_entries < 1 or max_bytes < 1:
            raise ValueError(f"max_entries and max_bytes must be >= 1, got {max_entries} and {max_bytes}")
        self.max_entries = max_entries  # reset at the next call once the table holds more entries
        self.max_bytes = max_bytes  # ... or more value bytes than this
        self.epoch = 0  # bumped by every reset
        self._clear()

    def _clear(self):
        # Fresh small arrays rather than zeroing the big ones: a reset also gives memory back.
        self._slots = np.zeros(_INITIAL_SLOTS, np.uint32)  # entry id per slot, 0 = empty
        self._entry_hash = np.empty(_INITIAL_ENTRIES, np.uint64)  # hash_bytes of entry i
        self._entry_off = np.zeros(_INITIAL_ENTRIES + 1, np.int64)  # entry i is pool[off[i]:off[i+1]]
        self._pool = np.empty(_INITIAL_POOL, np.uint8)  # every entry's bytes, back to back
        self._n = 0  # entries in the table

    def reset(self):
        """Forget every entry (ids start again at 1) and bump `epoch`."""
        self._clear()
        self.epoch += 1

    def __len__(self):
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes of values held (what `max_bytes` bounds)."""
        return int(self._entry_off[self._n])

    def encode(self, data, starts, ends) -> tuple[np.ndarray, list[tuple[int, bytes]]]:
        """Encode one batch of spans; see the module docstring for the input convention.

        Returns ids uint32[n] (0 = no value) and the entries new in this call as (id, value)
        pairs in id order. A reset, if the table is over its bounds, happens before the batch,
        so all ids returned by one call share the `epoch` read after it.
        """
        data, starts, ends = check_spans(data, starts, ends)
        if self._n > self.max_entries or self.nbytes > self.max_bytes:
            self.reset()
        first = self._n
        ids, self._slots, self._entry_hash, self._entry_off, self._pool, self._n = _encode(
            data, starts, ends, self._slots, self._entry_hash, self._entry_off, self._pool, self._n
        )
        return ids, list(zip(range(first + 1, self._n + 1), self._entries(first, self._n)))

    def _entries(self, first: int, stop: int) -> list[bytes]:
        # One copy out of the pool, then slices of Python bytes: a numpy slice per entry
        # costs ~0.5 us, which is most of a 20k-new-values batch.
        off = self._entry_off[first : stop + 1]
        blob = self._pool[off[0] : off[-1]].tobytes()
        bounds = (off - off[0]).tolist()
        return [blob[a:b] for a, b in zip(bounds, bounds[1:])]

    def values(self) -> list[bytes]:
        """Every entry's bytes, index i holding id i + 1 (for tests and for rebuilding readers)."""
        return self._entries(0, self._n)
