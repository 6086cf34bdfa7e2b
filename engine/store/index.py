"""Per-part indexes: a roaring bitmap of the rows holding each value of the filter columns, a
bloom filter of message tokens per block, and roaring bitmaps of the rows holding each of the
part's most frequent message tokens. Built when a part is written (`make_index_builder`), read
by the query (`PartIndex`).

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
the index is given INDEX_SHARE (19%) of the part's compressed column bytes: the bloom first (it
is the only way to skip blocks for a rare word), then base column sets, field key sets and
token sets together, by gain per byte: GAIN_NS (what the set saves a query per row of the
part: a base column without bitmaps reads its own small stream, ~2 ns a row; a field key
without a set reads that key's values, a token without a bitmap every message, ~80 ns a row)
times the rows the set covers, over its compressed size. A set that does not fit is left out.
A base column left out is "derived": `value_rows` still answers, from the column's own blocks
(a u8 or id stream per block, a few µs each), so the query sees the same interface either
way; a field key left out has no index (`value_rows` is None: scan). On bench/generate.py
data the host bitmaps (2 bytes a row, 9% of the data) now yield to ~80 token bitmaps and
`host:x` reads the host stream (~20-30 ms over 10M rows instead of ~20 with bitmaps).

Token sets. A word that 30% of the rows hold is in every block, so its bloom skips nothing and
the query used to decompress and scan every message. Now each part keeps, for the message
tokens held by at least TOKEN_MIN_SHARE (0.5%) of its rows (bare numbers excepted: those are
values, filtered as fields), the exact rows holding each, as far as the budget goes.
`PartIndex.token_rows` answers a single-token word from it with no message read; a phrase
(or a word of several tokens) tests only the rows
in the AND of its kept tokens' bitmaps. Tokens are found by hash (`token_hashes`, case-folded,
as the bloom), on a sample of the rows, then counted exactly (distinct rows, not occurrences)
in the same tokenizing pass that builds the bloom, so a merge does not tokenize twice
(native_kernels/token_rows.py). The set stores each token's bytes (taken from a row that holds
it), and lookups are by bytes, so a query word whose hash collides with a kept token is not
mistaken for it; left is a collision inside the part (a kept token and another token of the
part with the same 64-bit hash would share the bitmap), at odds of ~kept x distinct tokens /
2^64, ~1e-11 a part. Tokens with the same rows (the words of one message template) share one
bitmap. Measured on bench/generate.py data, merging two 833K-row parts (2 shared cores, so
+-0.5 s): 14 tokens in 13 bitmaps, index 14.2% -> 19.0% of the compressed data, index build
1.95 s -> 2.3 s, whole merge 5.4-5.9 s -> 5.5-6.5 s; `user | stats count()` over 10M rows
921 ms -> ~24 ms.

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

Token set (one per part, `IndexMeta.tokens`; n tokens, m distinct bitmaps):

| offset                  | size        | field                                             |
|-------------------------|-------------|---------------------------------------------------|
| 0                       | 4           | n                                                 |
| 4                       | 4           | m                                                 |
| 8                       | 4 (n + 1)   | token ends u32: token i is texts[te[i]:te[i + 1]] |
| 8 + 4 (n + 1)           | 4 n         | bitmap number of token i, u32 (< m)               |
| 8 + 8 n + 4             | 4 (m + 1)   | bitmap ends u32                                   |
| 12 + 8 n + 4 (m + 1)    | te[n]       | texts: each token lowercased (ASCII), as tokenize |
| ... + te[n]             | be[m]       | bitmaps, as in a bitmap set                       |

INDEX_VERSION changes with any of this. Version 2 added the token set alone: a version 1
reader ignores `tokens` (msgspec drops unknown fields) and a version 2 reader finds none in a
version 1 part (it scans), so the part's FORMAT_VERSION stayed as it was.
"""

from __future__ import annotations

import array
import struct

import msgspec
import numpy as np
from pyroaring import BitMap

from engine.store.part_reader import Part, PartDamaged
from engine.store.rows import FORMATS, NO_VALUE, Rows
from native_kernels.bloom import bloom_contains_all, build_bloom
from native_kernels.dictionary import DictionaryEncoder, hash_spans
from native_kernels.token_rows import CandidateTable, distinct_row_counts
from native_kernels.tokens import hash_token, token_hashes, tokenize

# 2: token sets (`IndexMeta.tokens`). A version 1 reader ignores them (msgspec drops unknown
# fields), a version 2 reader finds none in a version 1 part and scans: no FORMAT_VERSION bump.
INDEX_VERSION = 2
# The ceiling is 20% of the compressed data; 19% leaves room for the footer's directory
# (the fit below is checked on compressed bytes, so the share is never overshot).
INDEX_SHARE = 0.19
# What a set saves a query, in ns per row of the part it would otherwise read (measured on
# bench/generate.py data, 2 cores): a base column with no bitmaps is read from its own u8/id
# stream (~2 ns a row), a field key with none reads every pair of the part (~35), a token with
# none decompresses and scans every message (~80). Sets are stored by this gain per byte, so a
# bitmap of a host interleaved with 49 others (2 bytes a row, saving 2 ns) yields to a dozen
# token bitmaps (1 bit a row each, saving 80).
GAIN_NS = {"base": 2.0, "field": 35.0, "tokens": 80.0}
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
# A message token held by at least this share of a part's rows is a candidate for a token
# bitmap. A sparse token is cheap (a roaring array: 2 bytes a row holding it, so 0.01 bytes a
# row of the part at 0.5%) and is in every 65536-row block all the same, so its bloom skips
# nothing; far below it (under ~0.01% of rows) the bloom leaves most blocks out.
TOKEN_MIN_SHARE = 0.005
# Candidates are found on a sample of this many rows (evenly strided), at half the share so that
# sampling error does not lose a token just over it; the exact count comes from every row.
TOKEN_SAMPLE_ROWS = 65536
# The budget holds ~20-40 bitmaps of a 1-2M-row part, dense and sparse; 128 candidates (their
# rows are held in memory as uint32 until the choice is made: ~100 MB for 2M rows) leave room
# for groups.
MAX_TOKEN_CANDIDATES = 128
# Token sets (and the whole INDEX_SHARE) only for parts of at least this many blocks. A
# smaller part is scanned whole in a few ms, so its index buys less and gets less:
# SMALL_PART_SHARE (a bloom of up to BLOOM_SHARE is kept whatever it is). On the loghub samples
# (a 16k-row and a 2k-row part as ingested, one 20k-row part live) 8% instead of 12.5% took
# the ratio from 9.95:1 to 10.3:1 (received bytes) and from 11.4:1 to 11.6:1 live.
TOKEN_MIN_BLOCKS = 4
SMALL_PART_SHARE = 0.08
# A part of fewer rows gets no index at all (`{}`: every lookup scans it). Reading a few hundred
# rows whole costs well under a millisecond; an index costs its directory in the footer plus
# frames of a few dozen bytes: on loghub as ingested (44 days of 3-190 rows) 4 KB, 1.2% of
# its bytes on disk.
INDEX_MIN_ROWS = 1000

_U32 = struct.Struct("<I")
_BLOOM_HEAD = struct.Struct("<II")
_TOKENS_HEAD = struct.Struct("<II")


class IndexMeta(msgspec.Struct):
    """The index directory, kept in `PartMeta.index` (as plain msgpack)."""

    version: int
    bloom: list[int] = []  # [offset, clen] of the blooms blob; [] = no bloom
    # column → [offset, clen, start, end]: its bitmap set is bytes [start, end) of that blob
    # (field keys share one blob; a base column has its own)
    stored: dict[str, list[int]] = {}
    derived: dict[str, list[bytes] | None] = {}  # base column → its values (None: the part dictionary)
    tokens: list[int] = []  # [offset, clen] of the token set blob; [] = none (version 1, or none fit)


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


def _base_set(rows: Rows, column: str) -> tuple[bytes, int]:
    """(bitmap set, rows covered: those with a value) of a base column."""
    row_numbers = np.arange(len(rows), dtype=np.uint32)
    if column in U8_INDEXED:
        groups = _groups(getattr(rows, column), row_numbers, NO_VALUE)
        values = [_u8_value(column, c) for c, _ in groups]
    else:
        groups = _groups(rows.ids[column], row_numbers, 0)
        values = [rows.dicts[column][c - 1] for c, _ in groups]
    return _set_blob(values, [_bitmap_bytes(r) for _, r in groups]), sum(len(r) for _, r in groups)


def _field_sets(rows: Rows, max_values: int) -> dict[str, tuple[bytes, int]]:
    """{`field:<key>`: (bitmap set, rows covered)} for keys with at most `max_values` distinct
    values; rows covered counts a row once per value it holds."""
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
    out: dict[str, tuple[list, list, list]] = {}
    for code, members in _groups(codes, pair_rows[sel], None):
        key = rows.dicts["fieldkey"][code // int(span) - 1]
        try:
            column = FIELD_PREFIX + key.decode("utf-8")
        except UnicodeDecodeError:
            continue  # not a name a query can spell; the key stays unindexed
        values, bitmaps, covered = out.setdefault(column, ([], [], []))
        values.append(value_of[code % int(span)])
        members = np.unique(members)  # a key may repeat within a row
        bitmaps.append(_bitmap_bytes(members))
        covered.append(len(members))
    return {c: (_set_blob(v, b), sum(k)) for c, (v, b, k) in out.items()}


def _block_tokens(rows: Rows, blocks):
    """(first row, row_offsets, hashes) of each block's message tokens."""
    lo = 0
    for block in blocks:
        hi = lo + block.rows
        off = rows.msg_off[lo : hi + 1]
        row_offsets, hashes = token_hashes(rows.msg_data, off[:-1], off[1:])
        yield lo, row_offsets, hashes
        lo = hi


def _bloom_blob(filters: list[np.ndarray], bits: int) -> bytes:
    we = np.zeros(len(filters) + 1, np.uint64)
    np.cumsum([f.size for f in filters], out=we[1:])
    return b"".join([_BLOOM_HEAD.pack(len(filters), bits), we.tobytes(), *(f.tobytes() for f in filters)])


def _token_candidates(rows: Rows) -> np.ndarray:
    """Token hashes that a sample of the rows says may be held by TOKEN_MIN_SHARE of them, most
    frequent first (at most MAX_TOKEN_CANDIDATES)."""
    n = len(rows)
    sample = np.arange(0, n, max(1, n // TOKEN_SAMPLE_ROWS))
    row_offsets, hashes = token_hashes(rows.msg_data, rows.msg_off[sample], rows.msg_off[sample + 1])
    keys, counts = distinct_row_counts(row_offsets, hashes)
    keep = np.flatnonzero(counts >= max(1.0, TOKEN_MIN_SHARE / 2 * len(sample)))
    keep = keep[np.argsort(-counts[keep], kind="stable")][:MAX_TOKEN_CANDIDATES]
    return keys[keep]


def _scan_tokens(rows: Rows, blocks, bits: int, candidates: np.ndarray):
    """One tokenizing pass over the messages: (the blooms blob at `bits` bits a token, the rows
    of each candidate token as ascending uint32 arrays)."""
    table = CandidateTable(candidates) if len(candidates) else None
    filters, runs = [], []
    for lo, row_offsets, hashes in _block_tokens(rows, blocks):
        filters.append(build_bloom(hashes, bits))
        if table is not None:
            runs.append(table.rows(row_offsets, hashes, lo))
    cand_rows = [np.concatenate([r[p[c] : p[c + 1]] for p, r in runs]) for c in range(len(candidates))]
    return _bloom_blob(filters, bits), cand_rows


def _token_text(rows: Rows, row: int, token_hash: int) -> bytes | None:
    """The (lowercased) token of row `row`'s message whose hash is `token_hash`."""
    message = bytes(rows.msg_data[rows.msg_off[row] : rows.msg_off[row + 1]])
    for token in tokenize(message):
        if hash_token(token) == token_hash:
            return token
    return None


def _token_groups(rows: Rows, candidates: np.ndarray, cand_rows: list[np.ndarray]):
    """[(bitmap bytes, [token texts], rows)] of the tokens held by TOKEN_MIN_SHARE of the rows
    or more; tokens with the same rows (the words of one message template) share one bitmap."""
    need = TOKEN_MIN_SHARE * len(rows)
    groups: dict[bytes, list] = {}
    for h, members in zip(candidates.tolist(), cand_rows):
        if len(members) < need:
            continue
        text = _token_text(rows, int(members[0]), h)
        if text is None:  # cannot happen with this tokenizer; then it is safer not to store it
            continue
        if text.isdigit():
            # A bare number in a message is a value (a count, port, pid, code): queried as a
            # field, with a comparison, far more than as a word; its room goes to words.
            continue
        groups.setdefault(_bitmap_bytes(members), [[], len(members)])[0].append(text)
    return [(bitmap, texts, covered) for bitmap, (texts, covered) in groups.items()]


def _token_blob(groups: list[tuple[bytes, list[bytes]]]) -> bytes:
    texts = [t for _, ts in groups for t in ts]
    which = np.array([g for g, (_, ts) in enumerate(groups) for _ in ts], np.uint32)
    te = np.zeros(len(texts) + 1, np.uint32)
    np.cumsum([len(t) for t in texts], out=te[1:])
    be = np.zeros(len(groups) + 1, np.uint32)
    np.cumsum([len(b) for b, _ in groups], out=be[1:])
    return b"".join(
        [
            _TOKENS_HEAD.pack(len(texts), len(groups)),
            te.tobytes(),
            which.tobytes(),
            be.tobytes(),
            *texts,
            *(b for b, _ in groups),
        ]
    )


def _fit(items: list, room: int) -> list:
    """The items to store in `room` bytes: by gain per byte, those that fit, skipping (not
    stopping at) one that does not. Item: (bytes, gain, kind, payload)."""
    chosen, used = [], 0
    for item in sorted(items, key=lambda it: (-it[1] / max(1, it[0]), it[0])):
        if used + item[0] <= room:
            chosen.append(item)
            used += item[0]
    return chosen


def make_index_builder(storage_settings):
    """The `index_builder` for `write_part`, with the settings' field cardinality cap."""
    max_values = storage_settings.index_max_values

    def build(rows: Rows, blocks, writer) -> dict:
        if len(rows) < INDEX_MIN_ROWS:
            return {}
        data_bytes = sum(s.clen for b in blocks for s in b.streams.values())
        big = len(blocks) >= TOKEN_MIN_BLOCKS
        budget = int((INDEX_SHARE if big else min(SMALL_PART_SHARE, INDEX_SHARE)) * data_bytes)
        bits = BLOOM_BITS_PER_TOKEN
        candidates = _token_candidates(rows) if big else np.empty(0, np.uint64)
        # The bloom and the token rows share one tokenizing pass (it is most of the build).
        bloom, cand_rows = _scan_tokens(rows, blocks, bits, candidates)
        bloom = writer.compress(bloom, fast=True)
        while len(bloom) > BLOOM_SHARE * data_bytes and bits > MIN_BLOOM_BITS:
            # Scale to fit; at least one bit less each round (headers and rounding up to whole
            # words can keep a scaled filter just over).
            bits = max(MIN_BLOOM_BITS, min(bits - 1, int(bits * BLOOM_SHARE * data_bytes / len(bloom))))
            filters = [build_bloom(hashes, bits) for _, _, hashes in _block_tokens(rows, blocks)]
            bloom = writer.compress(_bloom_blob(filters, bits), fast=True)
        meta = IndexMeta(version=INDEX_VERSION)
        used = 0
        # A tiny part (a few rows of a straggling day) cannot hold even the smallest filter in
        # its budget; reading all of it costs less than an index would.
        if len(bloom) <= BLOOM_SHARE * data_bytes:
            meta.bloom = list(writer.append(bloom))
            used = len(bloom)
        _store_sets(rows, writer, meta, budget - used, max_values, candidates, cand_rows)
        return msgspec.to_builtins(meta)

    return build


def _store_sets(
    rows: Rows, writer, meta: IndexMeta, room: int, max_values: int, candidates: np.ndarray, cand_rows: list[np.ndarray]
) -> None:
    """Base column sets, field key sets and token sets in what the bloom left of the budget,
    by gain per byte (GAIN_NS).

    A base column's set is its own frame (its size is known exactly); field key sets share one
    frame (most are a few dozen bytes, less than a frame's overhead), token sets another, whose
    sizes are estimated per set (compressed alone at level 1); the chosen ones are then
    compressed for real, and when the frames miss the room (over, or well under it) the choice
    is made again for the room scaled by that ratio, a few times at most, keeping the choice
    with the most gain that fits. A base column left out is derived (answered from its stream);
    a field key left out has no index (scan)."""

    def cost(blob: bytes) -> int:
        # What it adds to a frame: a sparse bitmap's u16 arrays and a dense one of an 8% token
        # (about one byte in two has a bit set) compress well, a 30% token's hardly at all.
        return len(writer.compress(blob, fast=True)) if len(blob) > 256 else len(blob)

    items = []
    for column in BASE_COLUMNS:
        blob, covered = _base_set(rows, column)
        frame = writer.compress(blob)
        items.append((len(frame), GAIN_NS["base"] * covered, "base", (column, blob, frame)))
    for column, (blob, covered) in _field_sets(rows, max_values).items():
        items.append((cost(blob), GAIN_NS["field"] * covered, "field", (column, blob)))
    for bitmap, texts, covered in _token_groups(rows, candidates, cand_rows):
        items.append(
            (cost(bitmap) + sum(len(t) + 8 for t in texts), GAIN_NS["tokens"] * covered, "tokens", (bitmap, texts))
        )
    best = None
    target = max(0, room)
    tried = set()
    for _ in range(4):
        chosen = _fit(items, target)
        key = tuple(id(it) for it in chosen)
        if key in tried:
            break  # the same choice again: it fits or not as it did
        tried.add(key)
        bases = [p for _, _, kind, p in chosen if kind == "base"]
        fields = sorted((len(p[1]), p[0], p[1]) for _, _, kind, p in chosen if kind == "field")
        groups = [p for _, _, kind, p in chosen if kind == "tokens"]
        field_frame = writer.compress(b"".join(b for _, _, b in fields)) if fields else b""
        # Level 1, as the bloom: bitmaps of rows spread at random come out no smaller at 9
        # (1.78 MB at 1, 1.82 MB at 9 for a 2.55 MB set) and take 14x the time.
        token_frame = writer.compress(_token_blob(groups), fast=True) if groups else b""
        size = sum(len(f) for _, _, f in bases) + len(field_frame) + len(token_frame)
        gain = sum(it[1] for it in chosen)
        if size <= room and (best is None or gain > best[0]):
            best = (gain, bases, fields, groups, field_frame, token_frame)
        if len(chosen) == len(items) and size <= room:
            break
        # The estimates were off by size / estimate (frames compress better or worse than the
        # sets alone did): aim again at the room scaled by that, and when over, below what was
        # chosen, so that something is dropped (a near miss scaled by 0.99 could keep it all).
        estimate = sum(it[0] for it in chosen)
        target = int(estimate * room / max(1, size))
        if size > room:
            target = min(target, estimate - 1)
    _, bases, fields, groups, field_frame, token_frame = best or (0, [], [], [], b"", b"")
    stored = {column: (blob, frame) for column, blob, frame in bases}
    for column in BASE_COLUMNS:  # in this order, so that a part's layout does not depend on the fit
        if column in stored:
            blob, frame = stored[column]
            meta.stored[column] = [*writer.append(frame), 0, len(blob)]
        elif column in U8_INDEXED:
            present = np.flatnonzero(np.bincount(getattr(rows, column), minlength=256)[:NO_VALUE])
            meta.derived[column] = [_u8_value(column, int(c)) for c in present]
        else:
            meta.derived[column] = None
    if fields:
        offset, clen = writer.append(field_frame)
        at = 0
        for size, column, _ in fields:
            meta.stored[column] = [offset, clen, at, at + size]
            at += size
    if groups:
        meta.tokens = list(writer.append(token_frame))


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
        self.values = [blob[head + a : head + b] for a, b in zip(ve[:-1].tolist(), ve[1:].tolist())]
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


class _TokenSet:
    """A part's token set, parsed from its blob; bitmaps are deserialized on request."""

    def __init__(self, blob: bytes):
        if len(blob) < _TOKENS_HEAD.size:
            raise PartDamaged("index token set is truncated")
        n, m = _TOKENS_HEAD.unpack_from(blob)
        head = _TOKENS_HEAD.size + 4 * (n + 1) + 4 * n + 4 * (m + 1)
        if head > len(blob):
            raise PartDamaged("index token set directory runs past its blob")
        at = _TOKENS_HEAD.size
        te = np.frombuffer(blob, np.uint32, n + 1, at).astype(np.int64)
        which = np.frombuffer(blob, np.uint32, n, at + 4 * (n + 1)).astype(np.int64)
        be = np.frombuffer(blob, np.uint32, m + 1, at + 8 * n + 4).astype(np.int64)
        if (
            head + te[-1] + be[-1] != len(blob)
            or np.any(np.diff(te) < 0)
            or np.any(np.diff(be) < 0)
            or np.any(which >= m)
        ):
            raise PartDamaged("index token set directory does not match its blob")
        self._blob = blob
        self._bitmaps_at = head + int(te[-1])
        self._be = be
        self._which = which
        self._where = {blob[head + a : head + b]: i for i, (a, b) in enumerate(zip(te[:-1].tolist(), te[1:].tolist()))}

    def rows(self, token: bytes) -> BitMap | None:
        i = self._where.get(token)
        if i is None:
            return None
        g = int(self._which[i])
        a, b = self._bitmaps_at + int(self._be[g]), self._bitmaps_at + int(self._be[g + 1])
        try:
            return BitMap.deserialize(self._blob[a:b])
        except (ValueError, OverflowError) as exc:
            raise PartDamaged(f"index bitmap of token {token!r} does not deserialize: {exc}") from exc


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
        self._tokens: _TokenSet | None = None

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

    def token_rows(self, token: bytes) -> BitMap | None:
        """Rows (part-global numbers) whose message holds `token` (one token, lowercased: see
        native_kernels.tokens.tokenize), exactly; None when this part keeps no bitmap of it
        (a rare token, a part written before token sets, or one whose budget was spent): scan."""
        if not self._index.tokens:
            return None
        if self._tokens is None:
            self._tokens = _TokenSet(self._part.blob(*self._index.tokens))
        return self._tokens.rows(token)

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
