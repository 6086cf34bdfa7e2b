"""Building a part's index when the part is written (`make_index_builder`): what is stored
within the size budget, and the token candidates. The blob layouts are in
`engine.store.index_format`.

Size budget. Bitmaps of random-looking columns are dear: roaring spends 16 bits a row on a
value that is in 1-6% of the rows (a host among 50, interleaved by time), and 1 bit a row per
value in more than 6% of them; a bitmap of a near-unique value (procid) costs ~10 bytes a row.
On the synthetic traffic of bench/generate.py every bitmap plus blooms would take about a third
of the compressed data. So the index is given INDEX_SHARE of the part's compressed column
bytes: the bloom first (it is the only way to skip blocks and frames for a rare word; a filter
of words per message frame of each block, and one of numbers per block, `_frame_filters`), then
base column
sets, field key sets and token sets together, by gain per byte: GAIN_NS (what the set saves a
query per row of the part) times the rows the set covers, over its compressed size. A set that
does not fit is left out. A base column left out is "derived": `value_rows` still answers, from
the column's own blocks (a u8 or id stream per block, a few µs each), so the query sees the
same interface either way; a field key left out has no index (`value_rows` is None: scan). On
the synthetic traffic the host bitmaps (2 bytes a row) yield to token bitmaps, and `host:x`
reads the host stream instead (measured in BENCHMARKS.md, Query).

Token sets. A word that 30% of the rows hold is in every block, so its bloom skips nothing:
without more, a query for it would decompress and scan every message. So each part keeps, for
the message tokens held by at least TOKEN_MIN_SHARE of its rows (bare numbers excepted: those
are values, filtered as fields), the exact rows holding each, as far as the budget goes.
`PartIndex.token_rows` answers a single-token word from it with no message read; a phrase (or a
word of several tokens) tests only the rows in the AND of its kept tokens' bitmaps. Tokens are
found by hash (`token_hashes`, case-folded, as the bloom), on a sample of the rows, then
counted exactly (distinct rows, not occurrences) in the same tokenizing pass that builds the
bloom, so a merge does not tokenize twice (native_kernels/token_rows.py). The set stores each
token's bytes (taken from a row that holds it), and lookups are by bytes, so a query word whose
hash collides with a kept token is not mistaken for it; left is a collision inside the part (a
kept token and another token of the part with the same 64-bit hash would share the bitmap), at
odds of ~kept x distinct tokens / 2^64, ~1e-11 a part. Tokens with the same rows (the words of
one message template) share one bitmap. The price is a bigger index and a slower index build
in merges, for common-word and phrase queries that read few or no messages (measured in
BENCHMARKS.md, Query).

Spellings. The same pass takes each token's case signature (`token_hashes_cased`: which of its
first 64 bytes are upper-case letters, given only for the tokens that have one), so the
candidate table also tells whether every occurrence of a kept token is written one way; that
spelling is stored beside the token set, and an exact-case word (`"user"`) whose token has one
is answered from the bitmap alone. The blooms get the spelling hash of each token written with
an upper-case letter besides the folded hashes (`_spelled`), so an exact-case word rules out
blocks that hold it only written otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from engine.store.index_format import (
    INDEX_VERSION,
    U8_INDEXED,
    BlockCounts,
    IndexMeta,
    encode_bitmap_set_of,
    encode_block_counts,
    encode_frame_blooms,
    encode_spellings,
    encode_token_set,
    u8_value,
)
from engine.store.layout import FIELD_INDEX_PREFIX
from engine.store.part_format import BlockMeta
from engine.store.part_writer import IndexBuilder, StreamWriter
from engine.store.rows import NO_VALUE, Rows
from native_kernels.bloom import build_bloom
from native_kernels.dictionary import DictionaryEncoder, hash_spans
from native_kernels.gather import group_row_items
from native_kernels.key_cardinality import distinct_per_key
from native_kernels.roaring import encode_bitmaps, group_rows
from native_kernels.token_rows import MIXED, NOT_SEEN, ONE_SPELLING, CandidateTable, distinct_row_counts
from native_kernels.tokens import (
    CASE_SIGNATURE_BYTES,
    cased_hashes,
    hash_token,
    spelling,
    token_hashes,
    token_hashes_cased,
    tokenize,
)

# The target ceiling is 20% of the compressed data; 19% leaves room for the footer's directory
# (the fit below is checked on compressed bytes, so the share is never overshot).
INDEX_SHARE = 0.19
# What a set saves a query, in ns per row of the part it would otherwise read: a base column
# with no bitmaps is read from its own u8/id stream (~2 ns a row), a field key with none reads
# every pair of the part (~35), a token with none decompresses and scans every message (~80).
# Sets are stored by this gain per byte, so a bitmap of a host interleaved with 49 others
# (2 bytes a row, saving 2 ns) yields to a dozen token bitmaps (1 bit a row each, saving 80).
GAIN_NS = {"base": 2.0, "field": 35.0, "tokens": 80.0}
# 10 bits a word in a block cut into message frames: k = 7, 0.8% false positives. Its filters
# are per frame (a block of 64k rows has ~9 on bench/generate.py data, each a few thousand
# rows) and a rare word probes them all: at 3.5% (7 bits) it read ~6 frames it need not for the
# one it needed (5.4 ms, no better than a whole block), at 0.8% ~1.3 (1.6 ms). A block not cut
# keeps one filter and 7 bits (k = 5, 3.5%: a word search reads 1 block in 30 it need not): it
# gains nothing from more, and such blocks (loghub's) are where the bloom is most of the index.
BLOOM_BITS_PER_TOKEN = 10
UNCUT_BLOOM_BITS_LESS = 3
# Tokens made of digits only (process ids, ports, counts: most of a frame's distinct tokens on
# bench/generate.py data) go to one filter per block, 3 bits a token fewer (7: 3.5% false
# positives, as the version 4 block filters). With them in the frame filters at 10 bits the
# bloom took 9.7% of a merged part's data and the token bitmaps of common words (root, bob,
# failed, info, ...) no longer fit the 19%: those words then scanned every message (~3x
# slower). Apart, the bloom takes 6.7% and they fit again; a rare number reads its block's
# every frame (~3.5 ms, where a frame took 0.4). A filter of numbers per frame instead (7.6%)
# kept root and bob out and read ~6 frames too many at 7 bits (5 ms): see docs/storage.md.
NUMBER_BITS_LESS = 3
# The bloom may take at most this share of the data; past it (text made of unique tokens) it
# gets fewer bits a token, down to MIN_BLOOM_BITS (3 bits: 14% false positives, still a filter),
# and a part too small for even that (MIN_BITS per block) gets no bloom: all its blocks match.
BLOOM_SHARE = 0.10
MIN_BLOOM_BITS = 3
# Stored first, in this order, while the budget lasts: what queries filter on most.
BASE_COLUMNS = ("host", "app", "severity", "facility", "format", "source", "msgid", "procid")
# A base column whose values average fewer rows than this (process ids in a part of a few
# hundred thousand rows) gets no bitmap set: roaring spends at least 16 bytes on a value (its
# header, key and offset), so such a set costs over 4 bytes a row, ~17 bytes a value at zstd 9
# (61,907 pids in 200,000 rows: 1.05 MB, beside a 4 MB part whose whole index room is 0.75 MB),
# for a gain of 2 ns a row. It never fits, and building it was a fifth of a merge's time.
MIN_ROWS_PER_VALUE = 4
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
# SMALL_PART_SHARE (a bloom of up to BLOOM_SHARE is kept whatever it is). The smaller share
# buys loghub's many small parts a better ratio (measured in BENCHMARKS.md, Compression).
TOKEN_MIN_BLOCKS = 4
SMALL_PART_SHARE = 0.08
# A part of fewer rows gets no index at all (`{}`: every lookup scans it). Reading a few hundred
# rows whole costs well under a millisecond; an index costs its directory in the footer plus
# frames of a few dozen bytes: on loghub as ingested (44 days of 3-190 rows) 4 KB, 1.2% of
# its bytes on disk.
INDEX_MIN_ROWS = 1000

# Block counts: rows per block per combination of these columns' values (what users filter
# and group by most: which machine, which program, how bad), so that counts of filters on them,
# grouped by them or not, and their distinct values read no rows. Every indexed part keeps
# them, small ones too: the newest rows are in small parts, and reading their id columns is
# a millisecond of every query on recent data, where the frame is a few KB (0.1% of a 3-block
# part) and its build a few ms. One with more distinct combinations than MAX_COUNT_COMBOS
# (many thousands of hosts) keeps none: the entries would approach a row each, and a scan of
# the id columns costs about the same.
COUNT_COLUMNS = ("host", "app", "severity")
MAX_COUNT_COMBOS = 1 << 15
# Up to this many possible combinations (product of the columns' code ranges) a block's are
# counted with one bincount; past it, with a sort.
_DENSE_COMBOS = 1 << 20
# Codes are grouped by a counting sort (O(rows + code range)) up to this range beyond 4 per row;
# past it (field value codes: key x values), by a sort.
_COUNTING_SORT_CODES = 1 << 16

RowNumbers = npt.NDArray[np.uint32]


class IndexSettings(Protocol):
    """What the builder reads of the storage settings."""

    @property
    def index_max_values(self) -> int: ...


def make_index_builder(storage_settings: IndexSettings) -> IndexBuilder:
    """The `index_builder` for `write_part`, with the settings' field cardinality cap."""
    max_values = storage_settings.index_max_values

    def build(
        rows: Rows, blocks: Sequence[BlockMeta], writer: StreamWriter, frames: Sequence[np.ndarray | None], /
    ) -> dict[str, Any]:
        if len(rows) < INDEX_MIN_ROWS:
            return {}
        data_bytes = sum(s.clen for b in blocks for s in b.streams.values())
        big = len(blocks) >= TOKEN_MIN_BLOCKS
        budget = int((INDEX_SHARE if big else min(SMALL_PART_SHARE, INDEX_SHARE)) * data_bytes)
        bits = BLOOM_BITS_PER_TOKEN
        candidates = _token_candidates(rows) if big else np.empty(0, np.uint64)
        # The bloom and the token rows share one tokenizing pass (it is most of the build).
        bloom, cand_rows, spellings = _scan_tokens(rows, blocks, frames, bits, candidates)
        bloom = writer.compress(bloom, fast=True)
        # The bits of the filters that set the size: the frames', or where no block is cut the
        # blocks' (UNCUT_BLOOM_BITS_LESS fewer).
        less = 0 if any(f is not None for f in frames) else UNCUT_BLOOM_BITS_LESS
        while len(bloom) > BLOOM_SHARE * data_bytes and bits - less > MIN_BLOOM_BITS:
            # Scale to fit; at least one bit less each round (headers and rounding up to whole
            # words can keep a scaled filter just over).
            sized = bits - less
            bits = less + max(MIN_BLOOM_BITS, min(sized - 1, int(sized * BLOOM_SHARE * data_bytes / len(bloom))))
            filters = [_frame_filters(t, f, bits) for t, f in zip(_block_tokens(rows, blocks), frames)]
            bloom = writer.compress(encode_frame_blooms(filters, bits), fast=True)
        meta = IndexMeta(version=INDEX_VERSION, bloom_spelled=True)
        used = 0
        # A tiny part (a few rows of a straggling day) cannot hold even the smallest filter in
        # its budget; reading all of it costs less than an index would.
        if len(bloom) <= BLOOM_SHARE * data_bytes:
            meta.split_blooms = list(writer.append(bloom))
            used = len(bloom)
        _store_sets(rows, writer, meta, budget - used, max_values, candidates, cand_rows, spellings)
        counts = block_counts(rows, blocks)
        if counts is not None:
            # Outside the budget: a few bytes a block (a few hundred entries of 8 bytes, which
            # compress well), and they answer counts a bitmap would have to be read for.
            meta.counts = list(writer.append(writer.compress(encode_block_counts(counts))))
            meta.count_columns = list(COUNT_COLUMNS)
        directory: dict[str, Any] = msgspec.to_builtins(meta)
        return directory

    return build


# --- block counts ---------------------------------------------------------------------------


def _count_codes(rows: Rows, column: str) -> tuple[npt.NDArray[np.int64], int]:
    """(code per row as int64, the code range) of a count column."""
    if column in U8_INDEXED:
        return getattr(rows, column).astype(np.int64), 256
    return rows.ids[column].astype(np.int64), len(rows.dicts.get(column, [])) + 1


def block_counts(rows: Rows, blocks: Sequence[BlockMeta]) -> BlockCounts | None:
    """Rows per block per combination of COUNT_COLUMNS' values; None when the part has more
    than MAX_COUNT_COMBOS combinations."""
    code = np.zeros(len(rows), np.int64)
    ranges = []
    for column in COUNT_COLUMNS:
        c, r = _count_codes(rows, column)
        code = code * r + c  # mixed radix: one int64 per row names its combination
        ranges.append(r)
    total = int(np.prod(np.asarray(ranges, np.float64)))
    found, held, ends = [], [], [0]
    lo = 0
    for block in blocks:
        part = code[lo : lo + block.rows]
        lo += block.rows
        if total <= _DENSE_COMBOS:
            n = np.bincount(part, minlength=total)
            nz = np.flatnonzero(n)
            found.append(nz)
            held.append(n[nz])
        else:
            u, n = np.unique(part, return_counts=True)
            found.append(u)
            held.append(n)
        ends.append(ends[-1] + len(found[-1]))
    every = np.concatenate(found) if found else np.empty(0, np.int64)
    combos, combo = np.unique(every, return_inverse=True)
    if len(combos) > MAX_COUNT_COMBOS:
        return None
    codes = []
    rest = combos
    for r in reversed(ranges):
        rest, c = np.divmod(rest, r)
        codes.append(c.astype(np.uint32))
    return BlockCounts(
        codes[::-1],
        np.asarray(ends, np.int64),
        combo.reshape(-1).astype(np.uint32),
        (np.concatenate(held) if held else np.empty(0, np.int64)).astype(np.uint32),
    )


# --- the sets of one column -----------------------------------------------------------------


class _Groups(NamedTuple):
    """Rows grouped by a code: code `codes[i]` is held by `rows[ends[i]:ends[i + 1]]` (ascending)."""

    codes: npt.NDArray[np.int64]  # the codes present, ascending
    ends: npt.NDArray[np.int64]
    rows: npt.NDArray[np.integer]  # uint32 row numbers (int64 from a sort of int64 input)


def _groups(codes: npt.NDArray[np.integer], rows_of: npt.NDArray[np.integer] | None, none_code: int | None) -> _Groups:
    """The rows (`rows_of`, ascending; None: 0, 1, ...) of every code present but `none_code`."""
    if rows_of is None:
        rows_of = np.arange(len(codes), dtype=np.uint32)
    if none_code is not None:
        keep = codes != none_code
        codes, rows_of = codes[keep], rows_of[keep]
    if not len(codes):
        return _Groups(np.empty(0, np.int64), np.zeros(1, np.int64), np.empty(0, np.int64))
    n_codes = int(codes.max()) + 1
    if n_codes <= _COUNTING_SORT_CODES + 4 * len(codes):
        return _Groups(*group_rows(codes, n_codes, rows_of))
    order = np.argsort(codes, kind="stable")  # stable: rows stay ascending within a code
    codes, rows_of = codes[order], rows_of[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts, len(codes)].astype(np.int64)
    return _Groups(codes[starts].astype(np.int64), ends, rows_of)


def _too_many_values(rows: Rows, column: str) -> bool:
    """Whether `column`'s values average fewer than MIN_ROWS_PER_VALUE rows (see there)."""
    if column in U8_INDEXED:
        return False  # at most 255 values
    ids = rows.ids[column]
    distinct = int(np.count_nonzero(np.bincount(ids, minlength=1)[1:]))
    return distinct * MIN_ROWS_PER_VALUE > int(np.count_nonzero(ids))


def _base_set(rows: Rows, column: str) -> tuple[bytes, int]:
    """(bitmap set, rows covered: those with a value) of a base column."""
    if column in U8_INDEXED:
        groups = _groups(getattr(rows, column), None, NO_VALUE)
        values = [u8_value(column, c) for c in groups.codes.tolist()]
    else:
        groups = _groups(rows.ids[column], None, 0)
        values = list(map(rows.dicts[column].__getitem__, (groups.codes - 1).tolist()))
    bitmaps, ends = encode_bitmaps(groups.rows, groups.ends)
    return encode_bitmap_set_of(values, bitmaps, ends), len(groups.rows)


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
    hashes = hash_spans(rows.kv_data, starts, ends)
    distinct = distinct_per_key(rows.kv_key, hashes, len(rows.dicts["fieldkey"]) + 1, max_values)
    eligible = np.flatnonzero((distinct > 0) & (distinct <= max_values))
    eligible = eligible[eligible > 0]
    if not len(eligible):
        return {}
    # 2. Exact values of the eligible keys' pairs: one dictionary over all of them.
    sel = np.flatnonzero(np.isin(rows.kv_key, eligible))
    enc = DictionaryEncoder(max_entries=1 << 30, max_bytes=1 << 40)
    vids, entries = enc.encode(rows.kv_data, starts[sel], ends[sel])
    value_of = dict(entries)
    # Code = key id * (values + 1) + value id: one grouping by key, then value.
    span = len(value_of) + 1
    codes = rows.kv_key[sel].astype(np.int64) * span + vids.astype(np.int64)
    groups = _groups(codes, pair_rows[sel], None)
    # A key may repeat within a row: keep each row once per value (rows ascend within a group).
    group_of = np.repeat(np.arange(len(groups.codes)), np.diff(groups.ends))
    once = np.ones(len(groups.rows), bool)
    once[1:] = (groups.rows[1:] != groups.rows[:-1]) | (group_of[1:] != group_of[:-1])
    covered = np.bincount(group_of[once], minlength=len(groups.codes))
    group_ends = np.zeros(len(covered) + 1, np.int64)
    np.cumsum(covered, out=group_ends[1:])
    bitmaps, at = encode_bitmaps(groups.rows[once], group_ends)
    key_of, value_id = np.divmod(groups.codes, span)
    # A key's groups are consecutive (codes ascend): one bitmap set per run of one key.
    key_starts = np.flatnonzero(np.r_[True, key_of[1:] != key_of[:-1]]).tolist()
    out: dict[str, tuple[bytes, int]] = {}
    for a, b in zip(key_starts, [*key_starts[1:], len(key_of)]):
        key = rows.dicts["fieldkey"][int(key_of[a]) - 1]
        try:
            column = FIELD_INDEX_PREFIX + key.decode("utf-8")
        except UnicodeDecodeError:
            continue  # not a name a query can spell; the key stays unindexed
        values = list(map(value_of.__getitem__, value_id[a:b].tolist()))
        blob = encode_bitmap_set_of(values, bitmaps[at[a] : at[b]], at[a : b + 1] - at[a])
        out[column] = (blob, int(covered[a:b].sum()))
    return out


# --- message tokens: blooms and candidates ----------------------------------------------------


class _Cased(NamedTuple):
    """The tokens of a block written with an upper-case letter (`token_hashes_cased`)."""

    at: npt.NDArray[np.int64]  # their numbers among the block's tokens, ascending
    signatures: npt.NDArray[np.uint64]


class _BlockTokens(NamedTuple):
    """A block's message tokens (`token_hashes_cased`)."""

    lo: int  # the block's first row
    row_offsets: npt.NDArray[np.int64]  # row i's tokens are hashes[row_offsets[i]:row_offsets[i + 1]]
    hashes: npt.NDArray[np.uint64]
    cased: _Cased
    digits: npt.NDArray[np.bool_]  # per token: made of digits only


def _block_tokens(rows: Rows, blocks: Sequence[BlockMeta]) -> Iterator[_BlockTokens]:
    """Each block's message tokens."""
    lo = 0
    for block in blocks:
        hi = lo + block.rows
        off = rows.msg_off[lo : hi + 1]
        row_offsets, hashes, at, signatures, digits = token_hashes_cased(rows.msg_data, off[:-1], off[1:])
        yield _BlockTokens(lo, row_offsets, hashes, _Cased(at, signatures), digits)
        lo = hi


def _frame_filters(tokens: _BlockTokens, frames: np.ndarray | None, bits: int) -> list[npt.NDArray[np.uint64]]:
    """A block's filters (split blooms): first its number filter, the tokens made of digits
    only, at NUMBER_BITS_LESS bits fewer than `bits`; then one per message frame at `bits`
    bits a token, of every other token (the rest, then frames 1 .. K: the frame of each row is
    `frames[row]`), so that a rare word names the frame to read, not only the block; or, when
    the block is not cut (`frames` None), one of them for the whole block, at the fewer bits."""
    numbers = build_bloom(tokens.hashes[tokens.digits], max(MIN_BLOOM_BITS, bits - NUMBER_BITS_LESS))
    spelled = _spelled(tokens.hashes, tokens.cased)  # a spelling has a letter: never a number
    words = ~tokens.digits
    hashes = tokens.hashes[words]
    if frames is None:
        return [numbers, build_bloom(hashes, max(MIN_BLOOM_BITS, bits - UNCUT_BLOOM_BITS_LESS), spelled)]
    # Each row's words: its tokens' row offsets, counted over the words only.
    counted = np.zeros(len(words) + 1, np.int64)
    np.cumsum(words, out=counted[1:])
    row_offsets = counted[tokens.row_offsets]
    n = int(frames.max()) + 1
    grouped, ends = group_row_items(row_offsets, hashes, frames, n)
    # The cased tokens, each a row of its own, in the frame of the row holding it.
    frame_of = np.repeat(frames, np.diff(tokens.row_offsets))[tokens.cased.at]
    more, more_ends = group_row_items(np.arange(len(spelled) + 1), spelled, frame_of, n)
    return [
        numbers,
        *(build_bloom(grouped[ends[g] : ends[g + 1]], bits, more[more_ends[g] : more_ends[g + 1]]) for g in range(n)),
    ]


def _spelled(hashes: npt.NDArray[np.uint64], cased: _Cased) -> npt.NDArray[np.uint64]:
    """What a block's bloom holds besides every token's folded hash: the spelling hash of each
    token written with an upper-case letter (`cased_hashes`), so that an exact-case word can be
    ruled out of a block that holds it only written another way. Most such tokens are the
    words of templates, repeated: `build_bloom` counts distinct items, so they add little."""
    return cased_hashes(hashes[cased.at], cased.signatures)


def _token_candidates(rows: Rows) -> npt.NDArray[np.uint64]:
    """Token hashes that a sample of the rows says may be held by TOKEN_MIN_SHARE of them, most
    frequent first (at most MAX_TOKEN_CANDIDATES)."""
    n = len(rows)
    sample = np.arange(0, n, max(1, n // TOKEN_SAMPLE_ROWS))
    row_offsets, hashes = token_hashes(rows.msg_data, rows.msg_off[sample], rows.msg_off[sample + 1])
    keys, counts = distinct_row_counts(row_offsets, hashes)
    keep = np.flatnonzero(counts >= max(1.0, TOKEN_MIN_SHARE / 2 * len(sample)))
    keep = keep[np.argsort(-counts[keep], kind="stable")][:MAX_TOKEN_CANDIDATES]
    candidates: npt.NDArray[np.uint64] = keys[keep]
    return candidates


def _scan_tokens(
    rows: Rows,
    blocks: Sequence[BlockMeta],
    frames: Sequence[np.ndarray | None],
    bits: int,
    candidates: npt.NDArray[np.uint64],
) -> tuple[bytes, list[RowNumbers], list[int | None]]:
    """One tokenizing pass over the messages: (the frame blooms blob at `bits` bits a token, the
    rows of each candidate token as ascending uint32 arrays, each candidate's case signature
    when every occurrence in the part is spelled the same way, else None)."""
    table = CandidateTable(candidates) if len(candidates) else None
    filters, runs = [], []
    state = np.full(len(candidates), NOT_SEEN, np.int8)
    signature = np.zeros(len(candidates), np.uint64)
    for tokens, row_frames in zip(_block_tokens(rows, blocks), frames):
        filters.append(_frame_filters(tokens, row_frames, bits))
        lo, row_offsets, hashes, cased, _ = tokens
        if table is not None:
            ptr, cand, sig, st = table.rows_spelled(row_offsets, hashes, cased.at, cased.signatures, lo)
            runs.append((ptr, cand))
            # Across blocks: one spelling stays one only where every block saw that same one.
            differs = (state == ONE_SPELLING) & (st == ONE_SPELLING) & (sig != signature)
            state[differs | (st == MIXED)] = MIXED
            first = (state == NOT_SEEN) & (st == ONE_SPELLING)
            state[first], signature[first] = ONE_SPELLING, sig[first]
    cand_rows = [np.concatenate([r[p[c] : p[c + 1]] for p, r in runs]) for c in range(len(candidates))]
    one = [int(g) if s == ONE_SPELLING else None for s, g in zip(state.tolist(), signature.tolist())]
    return encode_frame_blooms(filters, bits), cand_rows, one


def _token_text(rows: Rows, row: int, token_hash: int) -> bytes | None:
    """The (lowercased) token of row `row`'s message whose hash is `token_hash`."""
    message = bytes(rows.msg_data[rows.msg_off[row] : rows.msg_off[row + 1]])
    for token in tokenize(message):
        if hash_token(token) == token_hash:
            return token
    return None


def _token_groups(
    rows: Rows, candidates: npt.NDArray[np.uint64], cand_rows: list[RowNumbers], signatures: list[int | None]
) -> list[tuple[bytes, list[bytes], list[bytes], int]]:
    """[(bitmap bytes, [token texts], [their spellings], rows)] of the tokens held by
    TOKEN_MIN_SHARE of the rows or more; tokens with the same rows (the words of one message
    template) share one bitmap. A token's spelling is how every occurrence of it in the part is
    written, or b"" when it is written several ways (or is longer than a case signature sees)."""
    need = TOKEN_MIN_SHARE * len(rows)
    groups: dict[bytes, tuple[list[bytes], list[bytes], int]] = {}
    for h, members, sig in zip(candidates.tolist(), cand_rows, signatures):
        if len(members) < need:
            continue
        text = _token_text(rows, int(members[0]), h)
        if text is None:  # cannot happen with this tokenizer; then it is safer not to store it
            continue
        if text.isdigit():
            # A bare number in a message is a value (a count, port, pid, code): queried as a
            # field, with a comparison, far more than as a word; its room goes to words.
            continue
        bitmap, _ = encode_bitmaps(members, np.array([0, len(members)]))
        group = groups.setdefault(bitmap, ([], [], len(members)))
        group[0].append(text)
        group[1].append(b"" if sig is None or len(text) > CASE_SIGNATURE_BYTES else spelling(text, sig))
    return [(bitmap, texts, spelled, covered) for bitmap, (texts, spelled, covered) in groups.items()]


# --- the choice within the budget -------------------------------------------------------------


class _Candidate(NamedTuple):
    """A set that may be stored: its estimated bytes, its gain (GAIN_NS x rows covered), and
    what is stored if it is chosen."""

    size: int
    gain: float
    kind: str  # a key of GAIN_NS
    column: str  # base and field sets: the column; "" for a token group
    blob: bytes  # the bitmap set, or a token group's bitmap
    frame: bytes = b""  # base sets, once chosen: the blob compressed (its own frame)
    texts: tuple[bytes, ...] = ()  # token groups: the tokens sharing the bitmap
    spellings: tuple[bytes, ...] = ()  # token groups: each token's one spelling (b"": several)


def _fit(candidates: list[_Candidate], room: int) -> list[_Candidate]:
    """The candidates to store in `room` bytes: by gain per byte, those that fit, skipping (not
    stopping at) one that does not."""
    chosen, used = [], 0
    for c in sorted(candidates, key=lambda c: (-c.gain / max(1, c.size), c.size)):
        if used + c.size <= room:
            chosen.append(c)
            used += c.size
    return chosen


def _store_sets(
    rows: Rows,
    writer: StreamWriter,
    meta: IndexMeta,
    room: int,
    max_values: int,
    candidates: npt.NDArray[np.uint64],
    cand_rows: list[RowNumbers],
    spellings: list[int | None],
) -> None:
    """Base column sets, field key sets and token sets in what the bloom left of the budget,
    by gain per byte (GAIN_NS).

    A base column's set is its own frame, field key sets share one (most are a few dozen bytes,
    less than a frame's overhead), token sets another. Every set's size is estimated alone at
    zstd level 1 (most base sets are never chosen: compressing a merge's host and procid sets at
    the part's level was a fifth of a 1.6M-row merge); the chosen ones are then
    compressed for real, and when the frames miss the room (over, or well under it) the choice
    is made again for the room scaled by that ratio, a few times at most, keeping the choice
    with the most gain that fits. A base column left out is derived (answered from its stream);
    a field key left out has no index (scan)."""

    def cost(blob: bytes) -> int:
        # What it adds to a frame: a sparse bitmap's u16 arrays and a dense one of an 8% token
        # (about one byte in two has a bit set) compress well, a 30% token's hardly at all.
        return len(writer.compress(blob, fast=True)) if len(blob) > 256 else len(blob)

    sets: list[_Candidate] = []
    for column in BASE_COLUMNS:
        if _too_many_values(rows, column):
            continue  # derived, as a set that did not fit
        blob, covered = _base_set(rows, column)
        sets.append(_Candidate(cost(blob), GAIN_NS["base"] * covered, "base", column, blob))
    for column, (blob, covered) in _field_sets(rows, max_values).items():
        sets.append(_Candidate(cost(blob), GAIN_NS["field"] * covered, "field", column, blob))
    for bitmap, texts, spelled, covered in _token_groups(rows, candidates, cand_rows, spellings):
        size = cost(bitmap) + sum(len(t) + len(s) + 12 for t, s in zip(texts, spelled))
        sets.append(
            _Candidate(
                size, GAIN_NS["tokens"] * covered, "tokens", "", bitmap, texts=tuple(texts), spellings=tuple(spelled)
            )
        )
    frames: dict[str, bytes] = {}  # base sets compressed for real, once each, when chosen
    best: _Stored | None = None
    target = max(0, room)
    tried = set()
    for _ in range(4):
        chosen = _fit(sets, target)
        key = tuple(id(c) for c in chosen)
        if key in tried:
            break  # the same choice again: it fits or not as it did
        tried.add(key)
        stored = _Stored.compress(chosen, writer, frames)
        gain = sum(c.gain for c in chosen)
        if stored.size <= room and (best is None or gain > best.gain):
            best = stored._replace(gain=gain)
        if len(chosen) == len(sets) and stored.size <= room:
            break
        # The estimates were off by size / estimate (frames compress better or worse than the
        # sets alone did): aim again at the room scaled by that, and when over, below what was
        # chosen, so that something is dropped (a near miss scaled by 0.99 could keep it all).
        estimate = sum(c.size for c in chosen)
        target = int(estimate * room / max(1, stored.size))
        if stored.size > room:
            target = min(target, estimate - 1)
    (best or _Stored.compress([], writer, frames)).append_to(rows, writer, meta)


class _Stored(NamedTuple):
    """One choice of sets, compressed as it would be stored."""

    bases: list[_Candidate]
    fields: list[_Candidate]  # by blob size, then column: their order in the shared frame
    field_frame: bytes
    token_frame: bytes
    spelling_frame: bytes  # the token set's spellings, in its token order
    gain: float = 0.0

    @staticmethod
    def compress(chosen: list[_Candidate], writer: StreamWriter, frames: dict[str, bytes]) -> _Stored:
        bases = []
        for c in chosen:
            if c.kind == "base":
                if c.column not in frames:
                    frames[c.column] = writer.compress(c.blob)
                bases.append(c._replace(frame=frames[c.column]))
        fields = sorted((c for c in chosen if c.kind == "field"), key=lambda c: (len(c.blob), c.column, c.blob))
        groups = [(c.blob, list(c.texts)) for c in chosen if c.kind == "tokens"]
        field_frame = writer.compress(b"".join(c.blob for c in fields)) if fields else b""
        # Level 1, as the bloom: bitmaps of rows spread at random come out no smaller at 9
        # and take ~14x the time.
        token_frame = writer.compress(encode_token_set(groups), fast=True) if groups else b""
        spelled = [s for c in chosen if c.kind == "tokens" for s in c.spellings]
        spelling_frame = writer.compress(encode_spellings(spelled), fast=True) if groups else b""
        return _Stored(bases, fields, field_frame, token_frame, spelling_frame)

    @property
    def size(self) -> int:
        frames = len(self.field_frame) + len(self.token_frame) + len(self.spelling_frame)
        return sum(len(c.frame) for c in self.bases) + frames

    def append_to(self, rows: Rows, writer: StreamWriter, meta: IndexMeta) -> None:
        """Append the frames and fill `meta`'s directory; base columns not stored are derived."""
        stored = {c.column: c for c in self.bases}
        for column in BASE_COLUMNS:  # in this order, so that a part's layout does not depend on the fit
            if column in stored:
                c = stored[column]
                meta.stored[column] = [*writer.append(c.frame), 0, len(c.blob)]
            elif column in U8_INDEXED:
                present = np.flatnonzero(np.bincount(getattr(rows, column), minlength=256)[:NO_VALUE])
                meta.derived[column] = [u8_value(column, int(code)) for code in present]
            else:
                meta.derived[column] = None
        if self.fields:
            offset, clen = writer.append(self.field_frame)
            at = 0
            for c in self.fields:
                meta.stored[c.column] = [offset, clen, at, at + len(c.blob)]
                at += len(c.blob)
        if self.token_frame:
            meta.tokens = list(writer.append(self.token_frame))
            meta.spellings = list(writer.append(self.spelling_frame))
