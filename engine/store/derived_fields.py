"""Fields that repeat their message: a part stores a flag per row instead of the `key=value`
pairs found in the message text, and reading runs the same kernel again to get them back.

Why: the parser keeps each message whole and also copies its key=value pairs into the fields
(native_kernels/kv.py), so they are stored twice: 19% of a part on bench/generate.py traffic,
3% on loghub. Why it is off by default (`storage.derive_fields`): reading the fields then means
decompressing the messages and running the kv kernel, ~50 ms a block of 64k rows instead of
~4 ms; a filter on a field without a bitmap goes from ~0.7 s to ~8 s over 10M rows.

The rule, checked when the part is written, so that reading gives back exactly what was
written: derive(message) = extract_kv(message, DERIVE_MAX_PAIRS). A row is flagged when its
first len(derive(message)) pairs (none, for a message without pairs) are, in order, fields
(kind KV_FIELD) with the same key and value bytes as derive(message); only its other pairs are
then stored (structured data, JSON
keys). A row that does not pass (the parser ran with `extract_kv = false`, or cut the pairs at a
lower `max_fields_per_row`) stores every pair, unflagged. On read, a flagged row gets
derive(message) first, then its stored pairs: the order the parser made them in.

Derived keys become ids of the part's `fieldkey` dictionary through a DictionaryEncoder seeded
with it (`KeyIds`): the dictionary's values get ids 1..K in order; a key it lacks gets an id
past K, which fails the check on write and is damage on read.

Per block (engine.store.part_reader): `kv.derived` (u8 per row, 1 = flagged), then `kv.count`,
`kv.key`, `kv.kind`, `kv.data` of the stored pairs only. A block with no flagged row has no
`kv.derived` stream and stores every pair. DERIVE_MAX_PAIRS and the kv rule are part of the
part format.
"""

from __future__ import annotations

import numpy as np

from engine.store.rows import KV_FIELD, Rows
from native_kernels.dictionary import DictionaryEncoder
from native_kernels.gather import spans_equal, take_spans
from native_kernels.kv import KvPairs, extract_kv

# The most pairs the parser keeps from a row (config: parse.max_fields_per_row <= 1024), so a
# row cut at the parser's cap is the only kind that does not re-derive.
DERIVE_MAX_PAIRS = 1024


class KeyIds:
    """Field key bytes → ids of one part's `fieldkey` dictionary (unknown keys: ids > `known`)."""

    def __init__(self, fieldkeys: list[bytes]):
        self.known = len(fieldkeys)
        self._enc = DictionaryEncoder(max_entries=1 << 30, max_bytes=1 << 40)
        self.usable = True
        if fieldkeys:
            lengths = np.fromiter((len(k) for k in fieldkeys), np.int64, len(fieldkeys))
            off = np.zeros(len(fieldkeys) + 1, np.int64)
            np.cumsum(lengths, out=off[1:])
            ids, _ = self._enc.encode(np.frombuffer(b"".join(fieldkeys), np.uint8), off[:-1], off[1:])
            # A dictionary with a value twice cannot be mapped back: no derivation then.
            self.usable = bool(np.array_equal(ids, np.arange(1, len(fieldkeys) + 1)))

    def ids(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        return self._enc.encode(data, starts.astype(np.int64), ends.astype(np.int64))[0]


def _derive(msg_off: np.ndarray, msg_data: np.ndarray) -> KvPairs:
    return extract_kv(msg_data, msg_off[:-1].astype(np.int64), msg_off[1:].astype(np.int64), DERIVE_MAX_PAIRS)


def _rank(row: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(count per row, index of each item within its row) for items grouped by row."""
    count = np.bincount(row, minlength=n)
    start = np.zeros(n + 1, np.int64)
    np.cumsum(count, out=start[1:])
    return count, np.arange(len(row)) - start[row]


def split(rows: Rows, lo: int, hi: int, keys: KeyIds) -> tuple[np.ndarray, np.ndarray] | None:
    """For block rows [lo, hi): (flags u8 per row, indexes of the pairs still to store), or None
    when no row can be flagged (then every pair is stored the old way)."""
    ptr = rows.kv_ptr
    p0, p1 = int(ptr[lo]), int(ptr[hi])
    if p0 == p1 or not keys.usable:
        return None
    n = hi - lo
    pairs = _derive(rows.msg_off[lo : hi + 1], rows.msg_data)
    if not len(pairs):
        return None
    r = pairs.row.astype(np.int64)
    derived, t = _rank(r, n)
    stored = np.diff(ptr[lo : hi + 1])
    ok = t < stored[r]
    q = np.where(ok, ptr[lo + r] + t, p0)  # the stored pair each derived one must equal
    ok &= rows.kv_kind[q] == KV_FIELD
    ok &= keys.ids(rows.msg_data, pairs.key_s, pairs.key_e) == rows.kv_key[q]
    ok &= spans_equal(rows.msg_data, pairs.val_s, pairs.val_e, rows.kv_data, rows.kv_off[q], rows.kv_off[q + 1])
    # A row with nothing to derive is flagged too: it reads back the same either way, and a
    # flag column of all ones compresses to nothing (a 0/1 mix cost 1.3 bits a row).
    flags = np.bincount(r[~ok], minlength=n) == 0
    if not (flags & (derived > 0)).any():
        return None
    skip = np.where(flags, derived, 0)
    pair_row = np.repeat(np.arange(n), stored)
    pos = np.arange(p1 - p0) - np.repeat(ptr[lo:hi] - p0, stored)
    keep = p0 + np.flatnonzero(pos >= skip[pair_row])
    return flags.astype(np.uint8), keep


def join(
    msg_off: np.ndarray,
    msg_data: np.ndarray,
    flags: np.ndarray,
    count: np.ndarray,
    key: np.ndarray,
    kind: np.ndarray,
    kv_off: np.ndarray,
    kv_data: np.ndarray,
    keys: KeyIds,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A block's fields with the derived pairs put back: (kv_ptr, kv_key, kv_kind, kv_off,
    kv_data) as in `Rows`. Raises ValueError when the stored data cannot be right."""
    n = len(flags)
    pairs = _derive(msg_off, msg_data)
    use = flags[pairs.row] != 0
    r = pairs.row[use].astype(np.int64)
    d_key = keys.ids(msg_data, pairs.key_s[use], pairs.key_e[use])
    if len(d_key) and int(d_key.max()) > keys.known:
        raise ValueError("a derived field key is not in the part's dictionary")
    derived, t = _rank(r, n)
    count = count.astype(np.int64)
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(derived + count, out=ptr[1:])
    s_row = np.repeat(np.arange(n), count)
    _, s_pos = _rank(s_row, n)
    dest_d = ptr[r] + t
    dest_s = ptr[s_row] + derived[s_row] + s_pos
    total = int(ptr[-1])
    out_key = np.empty(total, np.uint32)
    out_key[dest_d] = d_key
    out_key[dest_s] = key
    out_kind = np.empty(total, np.uint8)
    out_kind[dest_d] = KV_FIELD
    out_kind[dest_s] = kind
    # Values come from the message bytes (derived) or the stored values: one buffer for both.
    buf = np.concatenate([msg_data, kv_data])
    starts = np.empty(total, np.int64)
    ends = np.empty(total, np.int64)
    starts[dest_d] = pairs.val_s[use]
    ends[dest_d] = pairs.val_e[use]
    starts[dest_s] = kv_off[:-1] + len(msg_data)
    ends[dest_s] = kv_off[1:] + len(msg_data)
    out_off, out_data = take_spans(buf, starts, ends)
    return ptr, out_key, out_kind, out_off, out_data
