"""The layout of a part's index: the directory (`IndexMeta`), how values are spelled, and the
six blob kinds (bitmap set, blooms, frame blooms, token set, token spellings, block counts),
each one's encoder beside its decoder.

A part's index is a roaring bitmap of the rows holding each value of the filter columns, a bloom
filter of message tokens per message frame of each block, and roaring bitmaps of the rows holding each of the part's
most frequent message tokens (`engine.store.index_build` chooses what is stored,
`engine.store.index_read` answers lookups).

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

Frame blooms (one per part, in place of the blooms from version 5; B blocks, F filters, each
block has at least one):

| offset              | size        | field                                                       |
|---------------------|-------------|-------------------------------------------------------------|
| 0                   | 4           | B                                                           |
| 4                   | 4           | bits per token asked of `build_bloom` for a frame's filter  |
|                     |             | (a block not cut may have fewer; each filter says its `k`)  |
| 8                   | 8           | F                                                           |
| 16                  | 8 (B + 1)   | filter ends u64: block b's filters are [fe[b], fe[b + 1])   |
| 16 + 8 (B + 1)      | 8 (F + 1)   | word ends u64: filter f is words[we[f]:we[f + 1]]           |
| ... + 8 (F + 1)     | 8 we[F]     | words: native_kernels/bloom.py filters                      |

Block b's first filter is that of its rest frame (`message.data`: the whole block when the
block is not cut into value frames), the next ones those of its frames 1, 2, ... K
(`message.data@1` ...), so a cut block has K + 1 filters and one not cut has one. Each filter
holds what a block's filter held, for the messages of its frame only.

Split blooms (one per part, in place of the frame blooms from version 6): the frame blooms
layout, where block b's first filter holds its message tokens made of ASCII digits only
(`native_kernels.tokens.is_number`: process ids, ports, counts), for the whole block, and the
next ones are its rest frame's and its frames' as above, holding every other token. So a block
has at least 2 filters (K + 2 when cut). A number is looked up in its block's number filter
(every frame of a block whose filter says maybe is read), any other token in the frame filters;
a row holding both is in a block whose number filter holds the one and in a frame whose filter
holds the other.

A block's filter holds the folded hash of each of its message tokens (`hash_token`) and, when
`IndexMeta.bloom_spelled`, also the spelling hash (`native_kernels.tokens.cased_hashes`) of
each token written with an ASCII upper-case letter: `"Error"` (exact case) then skips a block
that holds `error` or `ERROR` but never `Error`. A lower-case spelling adds nothing (its
spelling hash would be its folded hash), so `"error"` is ruled out only where the folded
token is.

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

Token spellings (one per part with a token set, `IndexMeta.spellings`; n = the token set's n,
in its token order):

| offset                  | size        | field                                             |
|-------------------------|-------------|---------------------------------------------------|
| 0                       | 4           | n                                                 |
| 4                       | 4 (n + 1)   | spelling ends u32: spelling i is s[se[i]:se[i + 1]] |
| 8 + 4 n                 | se[n]       | s: how every occurrence of token i in the part is |
|                         |             | written (`Failed`, `user`); empty when it is      |
|                         |             | written several ways, or is longer than 64 bytes  |

So a word in exact case (`"user"`, a phrase of one token) whose token has a bitmap and one
spelling is answered from the index alone: that bitmap when the spelling is the word's, no row
when it is not; only a token written several ways has its candidate rows' messages read.

Block counts (one per part, `IndexMeta.counts`; the columns are `IndexMeta.count_columns`, c of
them; K distinct combinations of their values in the part, B blocks, E (block, combination)
entries):

| offset                  | size        | field                                              |
|-------------------------|-------------|----------------------------------------------------|
| 0                       | 4           | K                                                  |
| 4                       | 4           | B                                                  |
| 8                       | 4 K c       | the combinations' codes u32, column by column: a   |
|                         |             | dictionary id, or a u8 code (NO_VALUE: none)       |
| 8 + 4 K c               | 4 (B + 1)   | entry ends u32: block b's entries are [eb[b], eb[b + 1]) |
| ... + 4 (B + 1)         | 4 E         | combination of each entry u32 (< K)                |
| ... + 4 E               | 4 E         | rows of the block holding it u32 (> 0)             |

So a count of the rows matching a filter on those columns only, grouped or not by them, or the
distinct values of one of them, is read from the combinations of the blocks the query covers,
without a row read (`engine.query.block_counts`).

INDEX_VERSION changes with any of this. Version 2 added the token set alone: a version 1
reader ignores `tokens` (msgspec drops unknown fields) and a version 2 reader finds none in a
version 1 part (it scans), so the part's FORMAT_VERSION stayed as it was. Version 3 added the
block counts the same way (`counts`, `count_columns`: absent in older parts, which then scan).
Version 4 added token spellings (`spellings`) and spelling hashes in the blooms
(`bloom_spelled`), the same way: an older part has neither, and an exact-case word there is
narrowed by the folded index and its candidates' messages read, as before. Version 5 replaced
the blooms with frame blooms (`frame_blooms`; `bloom` is then []): a version 4 reader finds no
bloom and reads every block, a version 5 reader reads an older part's `bloom` as before.
Version 6 replaced the frame blooms with split blooms (`split_blooms`; `frame_blooms` is then
[]) the same way: a version 5 reader, which would probe the frame filters for numbers they do
not hold, finds no bloom and reads every block; a version 6 reader reads a version 5 part's
frame blooms with numbers in them, as before.
"""

from __future__ import annotations

import array
import struct
from typing import NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt
from pyroaring import BitMap

from engine.store.part_format import PartDamaged
from engine.store.rows import FORMATS
from native_kernels.bloom import check_filters

# 2: token sets (`IndexMeta.tokens`). A version 1 reader ignores them (msgspec drops unknown
# fields), a version 2 reader finds none in a version 1 part and scans: no FORMAT_VERSION bump.
# 3: block counts (`IndexMeta.counts`), added the same way.
# 4: token spellings (`IndexMeta.spellings`) and spelling hashes in the blooms
# (`IndexMeta.bloom_spelled`), added the same way.
# 5: frame blooms (`IndexMeta.frame_blooms`, a filter per message frame) in place of `bloom`.
# 6: split blooms (`IndexMeta.split_blooms`): frame blooms whose digit-only tokens are in one
# number filter per block instead, in place of `frame_blooms`.
INDEX_VERSION = 6
# Base columns whose values are u8 codes (spelled as numbers or format names), not dictionary ids.
U8_INDEXED = ("severity", "facility", "format")

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_BLOOM_HEAD = struct.Struct("<II")
_TOKENS_HEAD = struct.Struct("<II")
_COUNTS_HEAD = struct.Struct("<II")


class IndexMeta(msgspec.Struct):
    """The index directory, kept in `PartMeta.index` (as plain msgpack)."""

    version: int
    bloom: list[int] = []  # [offset, clen] of the blooms blob; [] = no bloom
    # column → [offset, clen, start, end]: its bitmap set is bytes [start, end) of that blob
    # (field keys share one blob; a base column has its own)
    stored: dict[str, list[int]] = {}
    derived: dict[str, list[bytes] | None] = {}  # base column → its values (None: the part dictionary)
    tokens: list[int] = []  # [offset, clen] of the token set blob; [] = none (version 1, or none fit)
    counts: list[int] = []  # [offset, clen] of the block counts blob; [] = none (before version 3)
    count_columns: list[str] = []  # the columns whose value combinations `counts` counts
    spellings: list[int] = []  # [offset, clen] of the token spellings blob; [] = none (before version 4)
    bloom_spelled: bool = False  # the blooms hold spelling hashes too (version 4 and up)
    # [offset, clen] of the frame blooms blob (version 5, in place of `bloom`); [] = none
    frame_blooms: list[int] = []
    # [offset, clen] of the split blooms blob (version 6, in place of `frame_blooms`); [] = none
    split_blooms: list[int] = []


# --- value spelling -----------------------------------------------------------------------------


def u8_value(column: str, code: int) -> bytes:
    """How the u8 code `code` of `column` (one of U8_INDEXED) is spelled in the index."""
    if column == "format" and code < len(FORMATS):
        return FORMATS[code].encode()
    return str(code).encode()


def u8_code(column: str, value: bytes) -> int:
    """The u8 code that `value` spells in `column`: `u8_value` reversed."""
    if column == "format" and value.decode() in FORMATS:
        return FORMATS.index(value.decode())
    return int(value)


# --- bitmaps ------------------------------------------------------------------------------------


def encode_bitmap(rows: npt.NDArray[np.integer]) -> bytes:
    """The portable roaring serialization of ascending row numbers, after `run_optimize()`."""
    bm = BitMap(array.array("I", rows.astype(np.uint32, copy=False).tobytes()))
    bm.run_optimize()
    return bm.serialize()


def _decode_bitmap(blob: bytes, start: int, end: int, what: str) -> BitMap:
    try:
        return BitMap.deserialize(blob[start:end])
    except (ValueError, OverflowError) as exc:
        raise PartDamaged(f"index bitmap of {what} does not deserialize: {exc}") from exc


def _ends(lengths: list[int], dtype: type[np.unsignedinteger]) -> npt.NDArray[np.unsignedinteger]:
    """[0, l0, l0 + l1, ...]: where each of a run of back-to-back items ends."""
    ends = np.zeros(len(lengths) + 1, dtype)
    np.cumsum(lengths, out=ends[1:])
    return ends


# --- bitmap set ---------------------------------------------------------------------------------


def encode_bitmap_set(values: list[bytes], bitmaps: list[bytes]) -> bytes:
    """The bitmap set blob of `values[i]` → `bitmaps[i]` (`encode_bitmap` output)."""
    ve = _ends([len(v) for v in values], np.uint32)
    be = _ends([len(b) for b in bitmaps], np.uint32)
    return b"".join([_U32.pack(len(values)), ve.tobytes(), be.tobytes(), *values, *bitmaps])


def encode_bitmap_set_of(values: list[bytes], bitmaps: bytes, ends: npt.NDArray[np.integer]) -> bytes:
    """`encode_bitmap_set` of bitmaps laid back to back: bitmap i is `bitmaps[ends[i]:ends[i + 1]]`
    (`native_kernels.roaring.encode_bitmaps` output, ends[0] = 0)."""
    ve = _ends([len(v) for v in values], np.uint32)
    be = np.asarray(ends, np.uint32)
    if len(be) != len(values) + 1 or be[0] != 0 or be[-1] != len(bitmaps):
        raise ValueError("bitmap ends do not match the values and the bitmaps")
    return b"".join([_U32.pack(len(values)), ve.tobytes(), be.tobytes(), *values, bitmaps])


class BitmapSet:
    """A stored column's bitmap set, parsed from its blob; bitmaps are deserialized on request.
    Raises PartDamaged when the directory does not match the blob."""

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
        """The rows holding `value`; an empty bitmap when the set has no such value."""
        i = self._where.get(value)
        if i is None:
            return BitMap()
        a, b = self._bitmaps_at + int(self._be[i]), self._bitmaps_at + int(self._be[i + 1])
        return _decode_bitmap(self._blob, a, b, repr(value))


# --- blooms -------------------------------------------------------------------------------------


def encode_blooms(filters: list[npt.NDArray[np.uint64]], bits: int) -> bytes:
    """The blooms blob of one filter per block, built at `bits` bits a token."""
    we = _ends([f.size for f in filters], np.uint64)
    return b"".join([_BLOOM_HEAD.pack(len(filters), bits), we.tobytes(), *(f.tobytes() for f in filters)])


def decode_blooms(blob: bytes, n_blocks: int) -> list[npt.NDArray[np.uint64]]:
    """Each block's filter (views into `blob`). Raises PartDamaged when the blob does not hold
    one filter per block."""
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


# --- frame blooms --------------------------------------------------------------------------------


class FrameBlooms(NamedTuple):
    """A part's frame blooms (layout above), checked: filter f is `words[word_ends[f]:word_ends[f + 1]]`,
    block b's filters are f in [block_ends[b], block_ends[b + 1]), the first the rest frame's
    (the whole block's when it is not cut), the next those of frames 1, 2, ... in order."""

    words: npt.NDArray[np.uint64]
    word_ends: npt.NDArray[np.int64]
    block_ends: npt.NDArray[np.int64]


def encode_frame_blooms(filters: list[list[npt.NDArray[np.uint64]]], bits: int) -> bytes:
    """The frame blooms blob of `filters[b]`, block b's filters (group 0, 1, ...), built at
    `bits` bits a token."""
    be = _ends([len(f) for f in filters], np.uint64)
    flat = [f for block in filters for f in block]
    we = _ends([f.size for f in flat], np.uint64)
    head = _BLOOM_HEAD.pack(len(filters), bits)
    return b"".join([head, _U64.pack(len(flat)), be.tobytes(), we.tobytes(), *(f.tobytes() for f in flat)])


def decode_frame_blooms(blob: bytes, n_blocks: int, least: int = 1) -> FrameBlooms:
    """The frame blooms of a part of `n_blocks` blocks (views into `blob`); `least`: the filters
    each block must have (2 for split blooms: its number filter and its rest frame's). Raises
    PartDamaged when the blob does not hold that many sound filters per block."""
    at = _BLOOM_HEAD.size + _U64.size
    if len(blob) < at:
        raise PartDamaged("frame bloom blob is truncated")
    n, _bits = _BLOOM_HEAD.unpack_from(blob)
    f = _U64.unpack_from(blob, _BLOOM_HEAD.size)[0]
    head = at + 8 * (n + 1) + 8 * (f + 1)
    if n != n_blocks or head > len(blob) or (len(blob) - head) % 8:
        raise PartDamaged(f"frame bloom blob holds {n} blocks for {n_blocks}")
    be = np.frombuffer(blob, np.uint64, n + 1, at).astype(np.int64)
    we = np.frombuffer(blob, np.uint64, f + 1, at + 8 * (n + 1)).astype(np.int64)
    words = np.frombuffer(blob, np.uint64, (len(blob) - head) // 8, head)
    if be[0] != 0 or be[-1] != f or np.any(np.diff(be) < least):
        raise PartDamaged(f"frame bloom blob gives a block no filter, or fewer than {least}")
    try:
        check_filters(words, we)
    except ValueError as exc:
        raise PartDamaged(f"frame bloom blob: {exc}") from exc
    return FrameBlooms(words, we, be)


# --- token spellings ---------------------------------------------------------------------------


def encode_spellings(spellings: list[bytes]) -> bytes:
    """The token spellings blob: `spellings[i]` is token i's (b"": written several ways)."""
    se = _ends([len(s) for s in spellings], np.uint32)
    return b"".join([_U32.pack(len(spellings)), se.tobytes(), *spellings])


def decode_spellings(blob: bytes, n_tokens: int) -> list[bytes]:
    """Each token's spelling, in the token set's order. Raises PartDamaged when the blob does
    not hold one per token of the set."""
    if len(blob) < 4:
        raise PartDamaged("index token spellings are truncated")
    n = _U32.unpack_from(blob)[0]
    head = 4 + 4 * (n + 1)
    if n != n_tokens or head > len(blob):
        raise PartDamaged(f"index token spellings hold {n} for {n_tokens} tokens")
    se = np.frombuffer(blob, np.uint32, n + 1, 4).astype(np.int64)
    if head + se[-1] != len(blob) or np.any(np.diff(se) < 0):
        raise PartDamaged("index token spellings directory does not match its blob")
    return [blob[head + a : head + b] for a, b in zip(se[:-1].tolist(), se[1:].tolist())]


# --- token set ----------------------------------------------------------------------------------


def encode_token_set(groups: list[tuple[bytes, list[bytes]]]) -> bytes:
    """The token set blob of (bitmap, the tokens whose rows it holds) groups."""
    texts = [t for _, ts in groups for t in ts]
    which = np.array([g for g, (_, ts) in enumerate(groups) for _ in ts], np.uint32)
    te = _ends([len(t) for t in texts], np.uint32)
    be = _ends([len(b) for b, _ in groups], np.uint32)
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


class TokenSet:
    """A part's token set, parsed from its blob; bitmaps are deserialized on request. Raises
    PartDamaged when the directory does not match the blob."""

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

    @property
    def texts(self) -> list[bytes]:
        """The tokens kept, in their order in the set."""
        return list(self._where)

    def number(self, token: bytes) -> int | None:
        """Where `token` is in the set's order; None when the set does not keep it."""
        return self._where.get(token)

    def rows(self, token: bytes) -> BitMap | None:
        """The rows whose message holds `token`; None when the set does not keep it."""
        i = self._where.get(token)
        if i is None:
            return None
        g = int(self._which[i])
        a, b = self._bitmaps_at + int(self._be[g]), self._bitmaps_at + int(self._be[g + 1])
        return _decode_bitmap(self._blob, a, b, f"token {token!r}")


# --- block counts -------------------------------------------------------------------------------


class BlockCounts(NamedTuple):
    """Rows per block per combination of the count columns' values."""

    codes: list[npt.NDArray[np.uint32]]  # per column, the code of each of the K combinations
    ends: npt.NDArray[np.int64]  # B + 1 entry ends: block b's entries are [ends[b], ends[b + 1])
    combo: npt.NDArray[np.uint32]  # per entry, its combination (< K)
    rows: npt.NDArray[np.uint32]  # per entry, the rows of its block holding that combination


def encode_block_counts(counts: BlockCounts) -> bytes:
    """The block counts blob (`BlockCounts` as laid out in the table above)."""
    k = len(counts.codes[0]) if counts.codes else 0
    return b"".join(
        [
            _COUNTS_HEAD.pack(k, len(counts.ends) - 1),
            *(c.astype(np.uint32).tobytes() for c in counts.codes),
            counts.ends.astype(np.uint32).tobytes(),
            counts.combo.astype(np.uint32).tobytes(),
            counts.rows.astype(np.uint32).tobytes(),
        ]
    )


def decode_block_counts(blob: bytes, n_columns: int, n_blocks: int) -> BlockCounts:
    """The block counts of a part with `n_columns` count columns and `n_blocks` blocks. Raises
    PartDamaged when the blob does not hold that, or an entry names no combination."""
    if len(blob) < _COUNTS_HEAD.size:
        raise PartDamaged("block counts blob is truncated")
    k, b = _COUNTS_HEAD.unpack_from(blob)
    at = _COUNTS_HEAD.size
    head = at + 4 * k * n_columns + 4 * (b + 1)
    if b != n_blocks or head > len(blob):
        raise PartDamaged(f"block counts blob holds {b} blocks for {n_blocks}")
    codes = [np.frombuffer(blob, np.uint32, k, at + 4 * k * c) for c in range(n_columns)]
    ends = np.frombuffer(blob, np.uint32, b + 1, at + 4 * k * n_columns).astype(np.int64)
    e = int(ends[-1])
    if ends[0] != 0 or np.any(np.diff(ends) < 0) or head + 8 * e != len(blob):
        raise PartDamaged("block counts directory does not match its blob")
    combo = np.frombuffer(blob, np.uint32, e, head)
    rows = np.frombuffer(blob, np.uint32, e, head + 4 * e)
    if e and int(combo.max()) >= k:
        raise PartDamaged("block counts entry names no combination")
    return BlockCounts(codes, ends, combo, rows)
