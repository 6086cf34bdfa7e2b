"""Per-part indexes: a roaring bitmap of the rows holding each value of the filter columns, and a
bloom filter of message tokens per block. Built when a part is written (`make_index_builder`),
read by the query (`PartIndex`).

Columns and how their values are spelled (bytes):

| column                             | values                                                     |
|------------------------------------|------------------------------------------------------------|
| host, app, procid, msgid, source   | the dictionary string                                      |
| severity, facility                 | the number as ASCII: b"0" .. b"7", b"0" .. b"23"           |
| format                             | its name: b"plain", b"rfc5424", b"rfc3164", b"json"         |
| field:<key>                        | the value of a pair with that key: a field, or an SD param |
|                                    | keyed `<sd-id>.<param>`; only keys with at most            |
|                                    | `index_max_values` distinct values in the part             |

A row with no value (dictionary id 0, u8 255) is in no bitmap. Row numbers are part-global:
block b holds rows [b * block_rows, b * block_rows + blocks[b].rows).

Size budget. Bitmaps of random-looking columns are dear: roaring spends 16 bits a row on a
value that is in 1-6% of the rows (a host among 50, interleaved by time), and 1 bit a row per
value in more than 6% of them; a bitmap of a near-unique value (procid) costs ~10 bytes a row.
On bench/generate.py traffic, every bitmap plus blooms came to 36% of the compressed data. So
the index is given INDEX_SHARE of the part's compressed column bytes: the bloom first (it is the
only way to skip blocks for a word), then the bitmap sets in BASE_COLUMNS order, then field
keys from the cheapest; a set that does not fit is left out. A base column left out is
"derived": `value_rows` still answers, from the column's own blocks (a u8 or id stream per
block, a few µs each), so the query sees the same interface either way; a field key left out
has no index (`value_rows` is None: scan). Reading a derived column over 10M rows costs ~20 ms
against ~1 ms for a stored bitmap; a stored one costs 2 bytes a row or more: that is the trade.

Blobs (each one zstd frame, `StreamWriter.append`; their places are in `IndexMeta`, stored
in `PartMeta.index`), little-endian:

Bitmap set (one per stored column; a base column's blob holds its set alone, the field keys'
sets share one blob, back to back):

| offset            | size        | field                                                   |
|-------------------|-------------|---------------------------------------------------------|
| 0                 | 4           | n, the number of values                                 |
| 4                 | 4 (n + 1)   | value ends u32: value i is values[ve[i]:ve[i + 1]]      |
| 4 + 4 (n + 1)     | 4 (n + 1)   | bitmap ends u32: bitmap i is bitmaps[be[i]:be[i + 1]]   |
| 4 + 8 (n + 1)     | ve[n]       | values area                                             |
| ... + ve[n]       | be[n]       | bitmaps area: pyroaring `BitMap.serialize()` (portable  |
|                   |             | roaring format), after `run_optimize()`                 |

Blooms (one per part):

| offset      | size        | field                                                          |
|-------------|-------------|----------------------------------------------------------------|
| 0           | 4           | n, the number of blocks                                        |
| 4           | 4           | bits per token asked of `build_bloom`                          |
| 8           | 8 (n + 1)   | word ends u64: block b's filter is words[we[b]:we[b + 1]]      |
| 8 (n + 2)   | 8 we[n]     | words: native_kernels/bloom.py filters, one per block          |

INDEX_VERSION changes with any of this (and the part's FORMAT_VERSION with it).
"""

from __future__ import annotations

import array
import struct

import msgspec
import numpy as np
from pyroaring import BitMap

from engine.store.part import Part, PartDamaged
from engine.store.rows import FORMATS, NO_VALUE, Rows
from native_kernels.bloom import bloom_contains_all, build_bloom
from native_kernels.dictionary import DictionaryEncoder, hash_spans
from native_kernels.tokens import token_hashes

INDEX_VERSION = 1
# The ceiling is 20% of the compressed data; 15% leaves room for the footer's directory
# and for a part whose streams compress better than the sample this was tuned on.
INDEX_SHARE = 0.15
# 7 bits a token: k = 5, 3.5% false positives (a word search reads 1 block in 30 it need not).
# 10 bits would give 0.8% at 1.4x the size; on loghub the bloom is most of the index.
BLOOM_BITS_PER_TOKEN = 7
# The bloom may take at most this share of the data; past it (text made of unique tokens) it
# gets fewer bits a token, down to MIN_BLOOM_BITS (3 bits: 14% false positives, still a filter),
# and a part too small for even that (MIN_BITS per block) gets no bloom: all its blocks match.
BLOOM_SHARE = 0.10
MIN_BLOOM_BITS = 3
# Stored first, in this order, while the budget lasts: what queries filter on most.
BASE_COLUMNS = ("host", "app", "severity", "facility", "format", "source", "msgid", "procid")
U8_INDEXED = ("severity", "facility", "format")
FIELD_PREFIX = "field:"

_U32 = struct.Struct("<I")
_BLOOM_HEAD = struct.Struct("<II")


class IndexMeta(msgspec.Struct):
    """The index directory, kept in `PartMeta.index` (as plain msgpack)."""

    version: int
    bloom: list[int] = []  # [offset, clen] of the blooms blob; [] = no bloom
    # column → [offset, clen, start, end]: its bitmap set is bytes [start, end) of that blob
    # (field keys share one blob; a base column has its own)
    stored: dict[str, list[int]] = {}
    derived: dict[str, list[bytes] | None] = {}  # base column → its values (None: the part dictionary)


# --- building -------------------------------------------------------------------------------


def _u8_value(column: str, code: int) -> bytes:
    if column == "format" and code < len(FORMATS):
        return FORMATS[code].encode()
    return str(code).encode()


def _groups(codes: np.ndarray, rows_of: np.ndarray, none_code: int | None):
    """[(code, ascending row numbers uint32)] for every code present but `none_code`."""
    keep = codes != none_code if none_code is not None else np.ones(len(codes), bool)
    codes, rows_of = codes[keep], rows_of[keep]
    if not len(codes):
        return []
    order = np.argsort(codes, kind="stable")  # stable: rows stay ascending within a code
    codes, rows_of = codes[order], rows_of[order]
    bounds = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), len(codes)]
    return [(int(codes[a]), rows_of[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _bitmap_bytes(rows: np.ndarray) -> bytes:
    bm = BitMap(array.array("I", rows.astype(np.uint32, copy=False).tobytes()))
    bm.run_optimize()
    return bm.serialize()


def _set_blob(values: list[bytes], bitmaps: list[bytes]) -> bytes:
    ve = np.zeros(len(values) + 1, np.uint32)
    np.cumsum([len(v) for v in values], out=ve[1:])
    be = np.zeros(len(bitmaps) + 1, np.uint32)
    np.cumsum([len(b) for b in bitmaps], out=be[1:])
    return b"".join([_U32.pack(len(values)), ve.tobytes(), be.tobytes(), *values, *bitmaps])


def _base_set(rows: Rows, column: str) -> bytes:
    row_numbers = np.arange(len(rows), dtype=np.uint32)
    if column in U8_INDEXED:
        groups = _groups(getattr(rows, column), row_numbers, NO_VALUE)
        values = [_u8_value(column, c) for c, _ in groups]
    else:
        groups = _groups(rows.ids[column], row_numbers, 0)
        values = [rows.dicts[column][c - 1] for c, _ in groups]
    return _set_blob(values, [_bitmap_bytes(r) for _, r in groups])


def _field_sets(rows: Rows, max_values: int) -> dict[str, bytes]:
    """{`field:<key>`: bitmap set} for keys with at most `max_values` distinct values."""
    n_pairs = len(rows.kv_key)
    if not n_pairs or max_values <= 0:
        return {}
    pair_rows = np.repeat(np.arange(len(rows), dtype=np.uint32), np.diff(rows.kv_ptr))
    starts, ends = rows.kv_off[:-1], rows.kv_off[1:]
    # 1. Distinct values per key, by hash (a collision can only let a key slightly over the
    # cap in; the values themselves are taken exactly below).
    keys = rows.kv_key.astype(np.uint64)
    hashes = hash_spans(rows.kv_data, starts, ends)
    order = np.lexsort((hashes, keys))
    k, h = keys[order], hashes[order]
    first = np.ones(n_pairs, bool)
    first[1:] = (k[1:] != k[:-1]) | (h[1:] != h[:-1])
    distinct = np.bincount(k[first].astype(np.int64), minlength=len(rows.dicts["fieldkey"]) + 1)
    eligible = np.flatnonzero((distinct > 0) & (distinct <= max_values))
    eligible = eligible[eligible > 0]
    if not len(eligible):
        return {}
    # 2. Exact values of the eligible keys' pairs: one dictionary over all of them.
    sel = np.flatnonzero(np.isin(rows.kv_key, eligible))
    enc = DictionaryEncoder(max_entries=1 << 30, max_bytes=1 << 40)
    vids, entries = enc.encode(rows.kv_data, starts[sel], ends[sel])
    value_of = dict(entries)
    # Code = key id * (values + 1) + value id: one sort groups by key, then value.
    span = np.uint64(len(value_of) + 1)
    codes = rows.kv_key[sel].astype(np.uint64) * span + vids.astype(np.uint64)
    out: dict[str, tuple[list, list]] = {}
    for code, members in _groups(codes, pair_rows[sel], None):
        key = rows.dicts["fieldkey"][code // int(span) - 1]
        try:
            column = FIELD_PREFIX + key.decode("utf-8")
        except UnicodeDecodeError:
            continue  # not a name a query can spell; the key stays unindexed
        values, bitmaps = out.setdefault(column, ([], []))
        values.append(value_of[code % int(span)])
        bitmaps.append(_bitmap_bytes(np.unique(members)))  # a key may repeat within a row
    return {c: _set_blob(v, b) for c, (v, b) in out.items()}


def _bloom_blob(rows: Rows, blocks, bits: int) -> bytes:
    filters = []
    lo = 0
    for block in blocks:
        hi = lo + block.rows
        off = rows.msg_off[lo:hi + 1]
        _, hashes = token_hashes(rows.msg_data, off[:-1], off[1:])
        filters.append(build_bloom(hashes, bits))
        lo = hi
    we = np.zeros(len(filters) + 1, np.uint64)
    np.cumsum([f.size for f in filters], out=we[1:])
    return b"".join([_BLOOM_HEAD.pack(len(filters), bits), we.tobytes(), *(f.tobytes() for f in filters)])


def make_index_builder(storage_settings):
    """The `index_builder` for `write_part`, with the settings' field cardinality cap."""
    max_values = storage_settings.index_max_values

    def build(rows: Rows, blocks, writer) -> dict:
        data_bytes = sum(s.clen for b in blocks for s in b.streams.values())
        budget = int(INDEX_SHARE * data_bytes)
        bits = BLOOM_BITS_PER_TOKEN
        bloom = writer.compress(_bloom_blob(rows, blocks, bits), fast=True)
        while len(bloom) > BLOOM_SHARE * data_bytes and bits > MIN_BLOOM_BITS:
            # Scale to fit; at least one bit less each round (headers and rounding up to whole
            # words can keep a scaled filter just over).
            bits = max(MIN_BLOOM_BITS, min(bits - 1, int(bits * BLOOM_SHARE * data_bytes / len(bloom))))
            bloom = writer.compress(_bloom_blob(rows, blocks, bits), fast=True)
        meta = IndexMeta(version=INDEX_VERSION)
        used = 0
        # A tiny part (a few rows of a straggling day) cannot hold even the smallest filter in
        # its budget; reading all of it costs less than an index would.
        if len(bloom) <= BLOOM_SHARE * data_bytes:
            meta.bloom = list(writer.append(bloom))
            used = len(bloom)
        for column in BASE_COLUMNS:
            blob = _base_set(rows, column)
            frame = writer.compress(blob)
            if used + len(frame) <= budget:
                meta.stored[column] = [*writer.append(frame), 0, len(blob)]
                used += len(frame)
            elif column in U8_INDEXED:
                present = np.flatnonzero(np.bincount(getattr(rows, column), minlength=256)[:NO_VALUE])
                meta.derived[column] = [_u8_value(column, int(c)) for c in present]
            else:
                meta.derived[column] = None
        # Field keys share one blob: most sets are a few dozen bytes, less than a frame's
        # overhead. Cheapest first, as many as the rest of the budget holds.
        fields = sorted((len(blob), column, blob) for column, blob in _field_sets(rows, max_values).items())
        while fields:
            blob = b"".join(b for _, _, b in fields)
            frame = writer.compress(blob)
            if used + len(frame) <= budget:
                offset, clen = writer.append(frame)
                at = 0
                for size, column, _ in fields:
                    meta.stored[column] = [offset, clen, at, at + size]
                    at += size
                break
            # Keep the share of the sets that the budget would hold at this blob's ratio.
            keep = int(len(fields) * max(0, budget - used) / len(frame))
            fields = fields[:min(keep, len(fields) - 1)]
        return msgspec.to_builtins(meta)

    return build


# --- reading --------------------------------------------------------------------------------


class _BitmapSet:
    """A stored column's bitmap set, parsed from its blob; bitmaps are deserialized on request."""

    def __init__(self, blob: bytes):
        if len(blob) < 4:
            raise PartDamaged("index bitmap set is truncated")
        n = _U32.unpack_from(blob)[0]
        head = 4 + 8 * (n + 1)
        if head > len(blob):
            raise PartDamaged("index bitmap set directory runs past its blob")
        ve = np.frombuffer(blob, np.uint32, n + 1, 4).astype(np.int64)
        be = np.frombuffer(blob, np.uint32, n + 1, 4 + 4 * (n + 1)).astype(np.int64)
        if head + ve[-1] + be[-1] != len(blob) or np.any(np.diff(ve) < 0) or np.any(np.diff(be) < 0):
            raise PartDamaged("index bitmap set directory does not match its blob")
        self._blob = blob
        self._bitmaps_at = head + int(ve[-1])
        self._be = be
        self.values = [blob[head + a:head + b] for a, b in zip(ve[:-1].tolist(), ve[1:].tolist())]
        self._where = {v: i for i, v in enumerate(self.values)}

    def rows(self, value: bytes) -> BitMap:
        i = self._where.get(value)
        if i is None:
            return BitMap()
        a, b = self._bitmaps_at + int(self._be[i]), self._bitmaps_at + int(self._be[i + 1])
        try:
            return BitMap.deserialize(self._blob[a:b])
        except (ValueError, OverflowError) as exc:
            raise PartDamaged(f"index bitmap of {value!r} does not deserialize: {exc}") from exc


class PartIndex:
    """The index of one open part. Loads lazily: the directory on first use, a column's bitmap
    set on first lookup of that column, the blooms on the first word lookup. Lookups may come
    from several threads: each cache entry is stored whole, so a race only loads something
    twice. Every call returns a new bitmap (the caller may change it). The `Part` must stay
    open while it is used."""

    def __init__(self, part: Part):
        self._part = part
        self._meta: IndexMeta | None = None
        self._sets: dict[str, _BitmapSet] = {}
        self._blobs: dict[int, bytes] = {}  # decompressed blobs by offset
        self._blooms: list[np.ndarray] | None = None

    @property
    def _index(self) -> IndexMeta:
        if self._meta is None:
            raw = self._part.meta.index
            try:
                self._meta = msgspec.convert(raw, IndexMeta) if raw else IndexMeta(version=INDEX_VERSION)
            except msgspec.ValidationError as exc:
                raise PartDamaged(f"index directory does not decode: {exc}") from exc
        return self._meta

    def _set(self, column: str) -> _BitmapSet:
        s = self._sets.get(column)
        if s is None:
            offset, clen, start, end = self._index.stored[column]
            blob = self._blobs.get(offset)
            if blob is None:
                blob = self._blobs[offset] = self._part.blob(offset, clen)
            if not 0 <= start <= end <= len(blob):
                raise PartDamaged(f"index set of {column} runs past its blob")
            s = self._sets[column] = _BitmapSet(blob[start:end])
        return s

    def value_rows(self, column: str, value: bytes) -> BitMap | None:
        """Rows (part-global numbers) whose `column` is `value`; an empty bitmap when none is;
        None when this part has no index for the column (scan it)."""
        idx = self._index
        if column in idx.stored:
            return self._set(column).rows(value)
        if column in idx.derived:
            return self._derive(column, value)
        return None

    def values(self, column: str) -> list[bytes] | None:
        """The distinct values of `column` in this part; None when it has no index for it."""
        idx = self._index
        if column in idx.stored:
            return list(self._set(column).values)
        if column in idx.derived:
            listed = idx.derived[column]
            return list(self._part.meta.dicts.get(column, [])) if listed is None else list(listed)
        return None

    def _derive(self, column: str, value: bytes) -> BitMap:
        # A base column whose bitmaps did not fit the budget: compare its stream block by block.
        meta = self._part.meta
        if column in U8_INDEXED:
            if value not in (self._index.derived[column] or []):
                return BitMap()
            code = FORMATS.index(value.decode()) if column == "format" and value.decode() in FORMATS else int(value)
        else:
            try:
                code = meta.dicts.get(column, []).index(value) + 1
            except ValueError:
                return BitMap()
        hits = []
        for b in range(len(meta.blocks)):
            found = np.flatnonzero(self._part.stream(b, column) == code)
            if len(found):
                hits.append(found.astype(np.uint32) + np.uint32(b * meta.block_rows))
        if not hits:
            return BitMap()
        return BitMap(array.array("I", np.concatenate(hits).tobytes()))

    def blocks_maybe_containing(self, token_hashes: list[int]) -> list[int]:
        """Blocks whose bloom may hold every one of the tokens (all blocks when the part has no
        blooms or no tokens are given). Hashes: native_kernels.tokens.hash_token."""
        n_blocks = len(self._part.meta.blocks)
        if not token_hashes or not self._index.bloom:
            return list(range(n_blocks))
        if self._blooms is None:
            self._blooms = self._load_blooms(n_blocks)
        probe = np.asarray(token_hashes, dtype=np.uint64)
        try:
            return [b for b, words in enumerate(self._blooms) if bloom_contains_all(words, probe)]
        except ValueError as exc:
            raise PartDamaged(f"bloom filter: {exc}") from exc

    def _load_blooms(self, n_blocks: int) -> list[np.ndarray]:
        blob = self._part.blob(*self._index.bloom)
        if len(blob) < _BLOOM_HEAD.size:
            raise PartDamaged("bloom blob is truncated")
        n, _bits = _BLOOM_HEAD.unpack_from(blob)
        head = _BLOOM_HEAD.size + 8 * (n + 1)
        if n != n_blocks or head > len(blob):
            raise PartDamaged(f"bloom blob holds {n} filters for {n_blocks} blocks")
        we = np.frombuffer(blob, np.uint64, n + 1, _BLOOM_HEAD.size).astype(np.int64)
        words = np.frombuffer(blob, np.uint64, (len(blob) - head) // 8, head)
        if int(we[-1]) != len(words) or np.any(np.diff(we) <= 0):
            raise PartDamaged("bloom blob directory does not match its words")
        return [words[a:b] for a, b in zip(we[:-1].tolist(), we[1:].tolist())]

    def size_bytes(self) -> int:
        """Bytes the index takes in the part file (its compressed blobs)."""
        return self._part.head.index_bytes
