"""Reading a part's index (`PartIndex`): which rows hold a value or a token, which blocks and
which of their message frames may hold a word. The blob layouts are in
`engine.store.index_format`.

A base column the builder left out ("derived") is answered from the column's own stream, block
by block, so the query sees the same interface either way; a field key left out, a rare token,
or a part with no index answers None: scan.
"""

from __future__ import annotations

import array
from typing import NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt
from pyroaring import BitMap, FrozenBitMap

from engine.store.index_format import (
    INDEX_VERSION,
    U8_INDEXED,
    BitmapSet,
    BlockCounts,
    FrameBlooms,
    IndexMeta,
    TokenSet,
    decode_block_counts,
    decode_blooms,
    decode_frame_blooms,
    decode_spellings,
    u8_code,
)
from engine.store.layout import MESSAGE, frame_groups
from engine.store.part_format import PartDamaged
from engine.store.part_reader import Part
from native_kernels.bloom import bloom_contains_all, each_contains_all
from native_kernels.tokens import hash_token, is_number


# Derived bitmaps kept per part (the latest asked): a dashboard asks the same few values again
# and again, and each costs a pass over the column's every block to derive.
DERIVED_KEPT = 64
# Cells of a part's kept code-by-block table of one count column (`code_blocks`): a byte each.
MAX_CODE_BLOCKS = 1 << 20


class MaybeIn(NamedTuple):
    """Where a word may be (`PartIndex.where_maybe`)."""

    blocks: list[int]  # the blocks whose filters may hold it, ascending
    # block → bool[256] by message frame number (0: the rest): the frames whose filters may hold
    # it, for the blocks where that rules some frame out
    frames: dict[int, npt.NDArray[np.bool_]]


class PartIndex:
    """The index of one open part. Loads lazily: the directory on first use, a column's bitmap
    set on first lookup of that column, the blooms on the first word lookup; a derived bitmap
    is kept once made (the part never changes). Lookups may come from several threads: each
    cache entry is stored whole, so a race only loads something twice. Every call returns a new
    bitmap (the caller may change it). The `Part` must stay open while it is used. A damaged
    index raises PartDamaged."""

    def __init__(self, part: Part):
        self._part = part
        self._meta: IndexMeta | None = None
        self._sets: dict[str, BitmapSet] = {}
        self._blobs: dict[int, bytes] = {}  # decompressed blobs by offset
        self._blooms: list[npt.NDArray[np.uint64]] | None = None
        self._frame_blooms: FrameBlooms | None = None
        self._tokens: TokenSet | None = None
        self._spellings: list[bytes] | None = None
        self._counts: BlockCounts | None = None
        self._combo_total: npt.NDArray[np.int64] | None = None
        self._count_columns: list[str] | None = None
        self._entry_blocks: npt.NDArray[np.int64] | None = None
        self._code_blocks: dict[str, npt.NDArray[np.bool_] | None] = {}
        self._derived: dict[tuple[str, bytes], FrozenBitMap] = {}

    @property
    def _index(self) -> IndexMeta:
        if self._meta is None:
            raw = self._part.meta.index
            try:
                self._meta = msgspec.convert(raw, IndexMeta) if raw else IndexMeta(version=INDEX_VERSION)
            except msgspec.ValidationError as exc:
                raise PartDamaged(f"index directory does not decode: {exc}") from exc
        return self._meta

    def _set(self, column: str) -> BitmapSet:
        s = self._sets.get(column)
        if s is None:
            offset, clen, start, end = self._index.stored[column]
            blob = self._blobs.get(offset)
            if blob is None:
                blob = self._blobs[offset] = self._part.blob(offset, clen)
            if not 0 <= start <= end <= len(blob):
                raise PartDamaged(f"index set of {column} runs past its blob")
            s = self._sets[column] = BitmapSet(blob[start:end])
        return s

    def value_rows(self, column: str, value: bytes) -> BitMap | None:
        """Rows (part-global numbers) whose `column` is `value`; an empty bitmap when none is;
        None when this part has no index for the column (scan it)."""
        idx = self._index
        if column in idx.stored:
            return self._set(column).rows(value)
        if column in idx.derived:
            key = (column, value)
            got = self._derived.get(key)
            if got is None:
                got = FrozenBitMap(self._derive(column, value))
                while len(self._derived) >= DERIVED_KEPT:
                    self._derived.pop(next(iter(self._derived)), None)  # the oldest
                self._derived[key] = got
            return BitMap(got)
        return None

    def stores_bitmaps(self, column: str) -> bool:
        """Whether `value_rows(column, ...)` reads a stored bitmap (not one derived by reading
        the column in every block)."""
        return column in self._index.stored

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
        tokens = self._token_set()
        return None if tokens is None else tokens.rows(token)

    def _token_set(self) -> TokenSet | None:
        if not self._index.tokens:
            return None
        if self._tokens is None:
            self._tokens = TokenSet(self._part.blob(*self._index.tokens))
        return self._tokens

    def token_spelling(self, token: bytes) -> bytes | None:
        """How every occurrence of kept token `token` (lowercased) in this part is written
        (`User`, `user`); None when that is not known: the part keeps no bitmap of the token,
        it is written several ways, or the part predates spellings (index version 4)."""
        tokens = self._token_set()
        if tokens is None or not self._index.spellings:
            return None
        i = tokens.number(token)
        if i is None:
            return None
        if self._spellings is None:
            spellings = decode_spellings(self._part.blob(*self._index.spellings), len(tokens.texts))
            # A spelling is its token in some case: checked once, as the answer trusts it.
            if any(s and s.lower() != t for s, t in zip(spellings, tokens.texts)):
                raise PartDamaged("index token spellings do not spell their tokens")
            self._spellings = spellings
        return self._spellings[i] or None

    @property
    def count_columns(self) -> list[str]:
        """The columns `block_counts` counts combinations of; [] when the part keeps none."""
        # Kept: asked of every part for every unit a query plans.
        if self._count_columns is None:
            self._count_columns = self._index.count_columns if self._index.counts else []
        return self._count_columns

    def loaded_count_columns(self) -> list[str] | None:
        """`count_columns` once `block_counts` has decoded them; None before, or with none."""
        return self._index.count_columns if self._counts is not None else None

    def block_counts(self) -> BlockCounts | None:
        """Rows per block per combination of `count_columns` (index_format: block counts);
        None when the part keeps none (written before version 3, or too many combinations)."""
        if not self._index.counts:
            return None
        if self._counts is None:
            blob = self._part.blob(*self._index.counts)
            counts = decode_block_counts(blob, len(self._index.count_columns), len(self._part.meta.blocks))
            # Codes index the part's dictionaries (and 256-entry tables): checked once here.
            for column, codes in zip(self._index.count_columns, counts.codes):
                top = 256 if column in U8_INDEXED else len(self._part.meta.dicts.get(column, [])) + 1
                if len(codes) and int(codes.max()) >= top:
                    raise PartDamaged(f"block counts of {column} name a value the part does not hold")
            self._counts = counts
        return self._counts

    def entry_blocks(self) -> npt.NDArray[np.int64]:
        """The block of each entry of `block_counts` (which must be there), kept."""
        if self._entry_blocks is None:
            counts = self.block_counts()
            if counts is None:
                raise PartDamaged("the part keeps no block counts")
            self._entry_blocks = np.repeat(np.arange(len(counts.ends) - 1), np.diff(counts.ends))
        return self._entry_blocks

    def code_blocks(self, column: str) -> npt.NDArray[np.bool_] | None:
        """Whether each code of count column `column` is in each block (codes x blocks), kept;
        None when that table would be big (MAX_CODE_BLOCKS cells): work it out from the entries.
        Needs block counts of the column."""
        if column not in self._code_blocks:
            counts = self.block_counts()
            if counts is None:
                raise PartDamaged("the part keeps no block counts")
            codes = counts.codes[self.count_columns.index(column)]
            top = int(codes.max()) + 1 if len(codes) else 0
            table = None
            if top * (len(counts.ends) - 1) <= MAX_CODE_BLOCKS:
                table = np.zeros((top, len(counts.ends) - 1), np.bool_)
                table[codes[counts.combo], self.entry_blocks()] = True
            self._code_blocks[column] = table
        return self._code_blocks[column]

    def combo_rows(self, blocks: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.int64]:
        """Rows per combination of `count_columns` in the blocks marked True (every block when
        None: kept, it is what a query over whole parts asks each time). Needs block counts."""
        counts = self.block_counts()
        if counts is None:
            raise PartDamaged("the part keeps no block counts")
        if blocks is None or blocks.all():
            if self._combo_total is None:
                self._combo_total = self._combo_sum(counts, None)
            return self._combo_total
        return self._combo_sum(counts, np.repeat(blocks, np.diff(counts.ends)))

    @staticmethod
    def _combo_sum(counts: BlockCounts, entries: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.int64]:
        combo, rows = (counts.combo, counts.rows) if entries is None else (counts.combo[entries], counts.rows[entries])
        k = len(counts.codes[0]) if counts.codes else 0
        return np.bincount(combo, weights=rows, minlength=k).astype(np.int64)

    def _derive(self, column: str, value: bytes) -> BitMap:
        # A base column whose bitmaps did not fit the budget: compare its stream block by block.
        meta = self._part.meta
        if column in U8_INDEXED:
            if value not in (self._index.derived[column] or []):
                return BitMap()
            code = u8_code(column, value)
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

    def blocks_maybe_containing(self, tokens: list[bytes], spelled_hashes: list[int] | None = None) -> list[int]:
        """Blocks whose bloom may hold every one of the tokens (all blocks when the part has no
        blooms or no tokens are given). `tokens`: lowercased, as native_kernels.tokens.tokenize
        gives them; `spelled_hashes` (native_kernels.tokens.exact_hash: tokens that must be
        written so, upper-case letters and all), probed only where the blooms hold spellings
        (version 4)."""
        return self.where_maybe(tokens, spelled_hashes).blocks

    def where_maybe(self, tokens: list[bytes], spelled_hashes: list[int] | None = None) -> MaybeIn:
        """`blocks_maybe_containing`, and where the part keeps a filter per message frame
        (version 5 and up), the frames of those blocks that may hold a row with every token: a
        row is in one frame, so its tokens are all in that frame's filter; from version 6 its
        numbers (`is_number`) are in the block's number filter instead."""
        n_blocks = len(self._part.meta.blocks)
        idx = self._index
        spelled = spelled_hashes if spelled_hashes and idx.bloom_spelled else []
        if not (tokens or spelled) or not (idx.bloom or idx.frame_blooms or idx.split_blooms):
            return MaybeIn(list(range(n_blocks)), {})
        if not idx.split_blooms:
            # Before version 6 every token, numbers too, is in the same filters.
            probe = np.asarray([*map(hash_token, tokens), *spelled], np.uint64)
            if not idx.frame_blooms:
                return MaybeIn(self._old_blooms(probe, n_blocks), {})
            if self._frame_blooms is None:
                self._frame_blooms = decode_frame_blooms(self._part.blob(*idx.frame_blooms), n_blocks)
            words, word_ends, block_ends = self._frame_blooms
            hit = each_contains_all(words, word_ends, probe)
            return self._frames_maybe(hit, block_ends, block_ends[:-1])
        if self._frame_blooms is None:
            self._frame_blooms = decode_frame_blooms(self._part.blob(*idx.split_blooms), n_blocks, least=2)
        words, word_ends, block_ends = self._frame_blooms
        numbers = [hash_token(t) for t in tokens if is_number(t)]
        others = [hash_token(t) for t in tokens if not is_number(t)]
        hit = each_contains_all(words, word_ends, np.asarray([*others, *spelled], np.uint64))
        # Each block's first filter is its number filter, then come its frames': a block whose
        # number filter rules the numbers out holds no row with them, whatever its frames say.
        first = block_ends[:-1]
        numbered = np.ones(n_blocks, np.bool_)
        if numbers:
            numbered = each_contains_all(words, word_ends, np.asarray(numbers, np.uint64))[first]
        hit[first] = False
        return self._frames_maybe(hit, block_ends, first + 1, numbered)

    def _frames_maybe(
        self,
        hit: npt.NDArray[np.bool_],
        block_ends: npt.NDArray[np.int64],
        frames_at: npt.NDArray[np.int64],
        numbered: npt.NDArray[np.bool_] | None = None,
    ) -> MaybeIn:
        """Where the tokens may be, from `hit`: whether each filter may hold them. Block b's
        frame filters (the rest frame's first) are [frames_at[b], block_ends[b + 1]), and none
        before them says maybe; `numbered`: whether each block's number filter does."""
        held = np.logical_or.reduceat(hit, block_ends[:-1])
        if numbered is not None:
            held &= numbered
        blocks = np.flatnonzero(held).tolist()
        frames: dict[int, npt.NDArray[np.bool_]] = {}
        for b in blocks:
            a, z = int(frames_at[b]), int(block_ends[b + 1])
            if z - a > 1 and not hit[a:z].all():
                frames[b] = self._frame_table(b, hit[a:z])
        return MaybeIn(blocks, frames)

    def _frame_table(self, b: int, hit: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """bool[256] by message frame number: those of block b whose filter said maybe (`hit`,
        the rest frame's first). Raises PartDamaged when the block has other frames."""
        own = frame_groups(self._part.meta.blocks[b].streams, MESSAGE)
        if sorted(own) != list(range(1, len(hit))):
            raise PartDamaged(f"frame blooms of block {b} hold {len(hit)} filters for frames {sorted(own)}")
        table = np.zeros(256, np.bool_)
        table[: len(hit)] = hit
        return table

    def _old_blooms(self, probe: npt.NDArray[np.uint64], n_blocks: int) -> list[int]:
        # A part written before version 5: one filter per block.
        if self._blooms is None:
            self._blooms = decode_blooms(self._part.blob(*self._index.bloom), n_blocks)
        try:
            return [b for b, words in enumerate(self._blooms) if bloom_contains_all(words, probe)]
        except ValueError as exc:
            raise PartDamaged(f"bloom filter: {exc}") from exc

    def size_bytes(self) -> int:
        """Bytes the index takes in the part file (its compressed blobs)."""
        return self._part.head.index_bytes
