"""How many distinct values each key holds, up to a cap (`distinct_per_key`): one pass over
(key, value hash) pairs with an open-addressing set, instead of sorting every pair.

The index builder asks it which field keys have few enough distinct values for bitmaps. A key
past the cap is not counted further, so the set holds at most (cap + 1) entries a key and stays
small whatever the part's size; it starts small and doubles (rehashing) when half full. Value
hashes end with fmix64 (`hash_spans`), so mixing the key in with one multiply picks the slot.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from native_kernels.jit import kernel

# An odd constant: key * it spreads the key over the high bits, where the mask keeps few.
_KEY_MIX = np.uint64(0x9E3779B97F4A7C15)


@kernel
def _slot(key, value_hash, mask):
    return (value_hash + np.uint64(key) * _KEY_MIX) & mask


@kernel
def _distinct_per_key(keys, hashes, n_keys, cap):
    counts = np.zeros(n_keys, np.int64)
    size = 1024
    slot_key = np.full(size, -1, np.int64)
    slot_hash = np.zeros(size, np.uint64)
    used = 0
    for i in range(keys.shape[0]):
        k = np.int64(keys[i])
        if counts[k] > cap:
            continue  # past the cap already: how far past does not matter
        h = hashes[i]
        mask = np.uint64(size - 1)
        s = _slot(k, h, mask)
        while slot_key[s] != -1 and (slot_key[s] != k or slot_hash[s] != h):
            s = (s + np.uint64(1)) & mask
        if slot_key[s] != -1:
            continue  # seen
        slot_key[s] = k
        slot_hash[s] = h
        counts[k] += 1
        used += 1
        if 2 * used > size:
            old_key, old_hash = slot_key, slot_hash
            size *= 2
            mask = np.uint64(size - 1)
            slot_key = np.full(size, -1, np.int64)
            slot_hash = np.zeros(size, np.uint64)
            for j in range(old_key.shape[0]):
                if old_key[j] != -1:
                    t = _slot(old_key[j], old_hash[j], mask)
                    while slot_key[t] != -1:
                        t = (t + np.uint64(1)) & mask
                    slot_key[t] = old_key[j]
                    slot_hash[t] = old_hash[j]
    return counts


def distinct_per_key(
    keys: npt.NDArray[np.integer], hashes: npt.NDArray[np.uint64], n_keys: int, cap: int
) -> npt.NDArray[np.int64]:
    """int64[n_keys]: for each key id in [0, n_keys), the distinct hashes paired with it in
    (keys[i], hashes[i]), counted up to `cap` + 1 (a key with more gets cap + 1)."""
    keys = np.ascontiguousarray(keys, np.int64)
    hashes = np.ascontiguousarray(hashes, np.uint64)
    if len(keys) != len(hashes):
        raise ValueError("keys and hashes differ in length")
    if len(keys) and (keys.min() < 0 or keys.max() >= n_keys):
        raise ValueError(f"key ids must be in [0, {n_keys})")
    if cap < 0:
        raise ValueError("cap must be at least 0")
    counts: npt.NDArray[np.int64] = _distinct_per_key(keys, hashes, int(n_keys), int(cap))
    return counts
