"""The filter tree's leaf (`Leaf`: a field + value test) and binding it to a part: one `Bound`
per kind of field.

- Small domains are tested once per part, never per row: u8 columns (severity, facility) and
  `format` through a 256-entry table of the predicate over every possible value, dictionary
  columns through a table over the part's dictionary; a row then costs one lookup,
  `table[ids]`. A dictionary in which nothing matches makes the leaf FALSE for the whole part.
- With an index, the part's block counts (or else the matching dictionary values' bitmaps)
  name the blocks to read; for the
  message, the blooms of the predicate's tokens do (and, a filter per message frame, the frames
  of those blocks to inflate and test), and the bitmaps of those of its tokens the
  part keeps (its frequent ones) name the very rows: a one-token word is then answered from
  its bitmap alone, anything else tests only the rows in the AND of the bitmaps. A word in
  exact case whose token the part writes one way (`PartIndex.token_spelling`) is that bitmap,
  or nothing, alone too; the blooms' spelling hashes rule out blocks lacking its spelling.
- The message and field values are tested as spans by the predicate's kernels, on candidate
  rows only (field values as numbers, parsed once, for numeric ranges). A field key the part
  has never seen makes the leaf FALSE for the part; one whose values' bitmaps the index keeps
  (a key of few values) is answered from them, reading no value.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
from pyroaring import BitMap

from engine.query.field_names import DICT, FORMAT, KV, MESSAGE, TIME, U8, Field
from engine.query.filters.base import FALSE, Bound, Filter, Predicate
from engine.store.index_read import PartIndex
from engine.store.rows import FORMATS, NO_VALUE
from native_kernels.tokens import exact_hash

if TYPE_CHECKING:
    from engine.query.block import Block, Mask
    from engine.query.scope import Scope

_U8_TEXT = [str(v).encode() for v in range(NO_VALUE)]
_FORMAT_TEXT = [f.encode() for f in FORMATS] + [str(v).encode() for v in range(len(FORMATS), 256)]


@dataclass(frozen=True)
class Leaf(Filter):
    """A field and the test of its value: the filter tree's leaf."""

    field: Field
    pred: Predicate

    def bind(self, scope: Scope) -> Bound:
        return bind_leaf(self.field, self.pred, scope)


def bind_leaf(field: Field, pred: Predicate, scope: Scope) -> Bound:
    kind = field.kind
    if kind == TIME:
        return TimeBound(field.name, pred, scope)
    if kind == U8:
        table = np.zeros(256, np.bool_)
        table[:NO_VALUE] = pred.on_values(_U8_TEXT)
        if not table.any():
            return FALSE
        return TableBound(field.name, table, _count_blocks(scope, field.name, table))
    if kind == FORMAT:
        table = pred.on_values(_FORMAT_TEXT)
        return TableBound(field.name, table) if table.any() else FALSE
    if kind == DICT:
        values = scope.dicts.get(field.name, [])
        table = np.zeros(len(values) + 1, np.bool_)
        table[1:] = pred.on_values(values)
        if not table.any():
            return FALSE
        named = _count_blocks(scope, field.name, table)
        if named is None:
            named = _bitmap_blocks(scope, field.name, values, table[1:])
        # Rows without a value (id 0) have no bitmap: a table that takes them reads the column.
        stored = None if table[0] else _stored_rows(scope, field.name, values, table[1:])
        return TableBound(field.name, table, named, stored)
    if kind == MESSAGE:
        blocks: np.ndarray | None = None
        rows: np.ndarray | None = None
        frames: dict[int, np.ndarray] = {}
        exact = False
        index = scope.index
        tokens = pred.message_tokens()
        if index is not None and tokens:
            spelled, one = pred.spelled_tokens()
            probes = [h for h in map(exact_hash, spelled) if h is not None]
            maybe = index.where_maybe(tokens, probes)
            blocks = _sorted_blocks(maybe.blocks)
            frames = {b * scope.block_rows: table for b, table in maybe.frames.items()}
            rows, exact = _token_rows(index, pred, spelled, one)
            if rows is not None:
                if not len(rows):
                    return FALSE
                blocks = np.intersect1d(blocks, _blocks_of_rows(scope, rows))
        return MessageBound(pred, blocks, rows, exact, frames)
    if kind == KV:
        kid = scope.key_id(field.name.encode())
        if not kid:
            return FALSE
        rows = _field_rows(scope, field.name, pred)
        if rows is None:
            return PairsBound(kid, pred)
        return FieldRowsBound(rows, _blocks_of_rows(scope, rows)) if len(rows) else FALSE
    raise AssertionError(kind)


def _blocks_of_rows(scope: Scope, rows: np.ndarray) -> np.ndarray:
    """Blocks holding one of `rows` (part-global, ascending): where the rows cross block starts
    (a search per block, not a pass over what may be millions of rows)."""
    bounds = np.searchsorted(rows, np.arange(scope.nblocks + 1, dtype=np.int64) * scope.block_rows)
    return np.flatnonzero(np.diff(bounds) > 0)


class TableBound(Bound):
    """A u8 or dictionary column tested through a per-value table: `table[column]`. With
    `stored_rows` (the part's matching rows from the index's stored bitmaps, made on first
    use), `rows` names a block's matches without decompressing the column."""

    cost = 1
    light = True

    def __init__(
        self,
        column: str,
        table: np.ndarray,
        blocks: np.ndarray | None = None,
        stored_rows: Callable[[], np.ndarray | None] | None = None,
    ):
        self.column = column
        self.table = table
        self._blocks = blocks
        hits = np.flatnonzero(table)
        # One matching value (host:x, the usual case): a comparison is ~10x a table lookup.
        self.only = int(hits[0]) if len(hits) == 1 else None
        self._make_rows = stored_rows
        self._part_rows: np.ndarray | None = None  # made by `_make_rows`, once
        self._rows_lock = threading.Lock()

    def blocks(self) -> np.ndarray | None:
        return self._blocks

    def columns(self) -> frozenset[str] | None:
        return frozenset((self.column,))

    def _hits(self, ids: np.ndarray) -> Mask:
        """bool per id: the table's answer."""
        hit: Mask = (ids == self.only) if self.only is not None else np.take(self.table, ids)
        return hit

    def eval(self, blk: Block, cand: Mask) -> Mask:
        return self._hits(blk.ids(self.column)) & cand

    def rows(self, blk: Block) -> np.ndarray:
        if self._make_rows is not None:
            with self._rows_lock:  # blocks are read on several threads: made once
                make, self._make_rows = self._make_rows, None
                if make is not None:
                    self._part_rows = make()
        if self._part_rows is not None:
            return _rows_in_block(self._part_rows, blk.row0, blk.n).astype(np.int64)
        return np.flatnonzero(self._hits(blk.ids(self.column)))

    def keep(self, blk: Block, rows: np.ndarray) -> np.ndarray:
        kept: np.ndarray = rows[self._hits(blk.ids(self.column)[rows])]
        return kept


class TimeBound(Bound):
    """`_time` or `_recv` through the predicate's number test; `_time` also prunes blocks by
    their time range."""

    cost = 1
    light = True

    def __init__(self, name: str, pred: Predicate, scope: Scope):
        self.name = name
        self.pred = pred
        self._blocks: np.ndarray | None = None
        if name == "_time" and scope.nblocks:
            lo_hi = np.stack([scope.block_min, scope.block_max])
            # A block may match when the predicate holds at one of its ends or in between: for
            # the ranges we have, testing the interval's ends and its overlap is enough.
            span = getattr(pred, "block_may_match", None)
            if span is not None:
                self._blocks = np.flatnonzero(span(lo_hi[0], lo_hi[1]))

    def blocks(self) -> np.ndarray | None:
        return self._blocks

    def eval(self, blk: Block, cand: Mask) -> Mask:
        col = blk.time() if self.name == "_time" else blk.recv()
        return self.pred.on_numbers(col) & cand


class MessageBound(Bound):
    """The message through the predicate's span test. With `rows` (part-global, ascending, from
    the index's token bitmaps) only those rows are tested; when `exact`, they are the matches
    and the message is not read at all. With `frames` (a block's first row → bool per message
    frame number, from the frame blooms) only the rows of the frames that may hold the tokens
    are tested, so only those frames are inflated."""

    def __init__(
        self,
        pred: Predicate,
        blocks: np.ndarray | None,
        rows: np.ndarray | None = None,
        exact: bool = False,
        frames: dict[int, np.ndarray] | None = None,
    ):
        self.pred = pred
        self.exact = exact and rows is not None
        self.cost = 1 if self.exact else 10 * pred.cost
        self.light = self.exact
        self._blocks = blocks
        self._rows = rows
        self._frames = frames or {}

    def blocks(self) -> np.ndarray | None:
        return self._blocks

    def eval(self, blk: Block, cand: Mask) -> Mask:
        if self._rows is not None:
            cand = cand & _block_mask(self._rows, blk.row0, blk.n)
            if self.exact:
                return cand
        frames = self._frames.get(blk.row0)
        if frames is not None:
            return self._in_frames(blk, cand, frames)
        if not cand.any():
            return np.zeros_like(cand)
        return self.pred.on_message(blk.message_for(cand), cand)

    def _in_frames(self, blk: Block, cand: Mask, frames: np.ndarray) -> Mask:
        """`eval` of a block where only the message frames marked in `frames` may hold the
        tokens: each is inflated and tested alone (a pass over the block's every row to place
        the spans of one small frame cost more than the frame)."""
        numbers = blk.message_frames()
        out = np.zeros_like(cand)
        for frame in np.flatnonzero(frames).tolist():
            rows = np.flatnonzero(numbers == frame)
            want = cand[rows]
            if want.any():
                out[rows] = self.pred.on_message(blk.frame_messages(frame, len(rows)), want)
        return out

    def rows(self, blk: Block) -> np.ndarray | None:
        if self.exact and self._rows is not None:
            return _rows_in_block(self._rows, blk.row0, blk.n)
        return None


def _rows_in_block(rows: np.ndarray, row0: int, n: int) -> np.ndarray:
    """Which of `rows` (part-global, ascending) lie in the block of rows row0 .. row0 + n, as
    block-local row numbers."""
    lo, hi = np.searchsorted(rows, [row0, row0 + n])
    local: np.ndarray = rows[lo:hi] - rows.dtype.type(row0)
    return local


def _block_mask(rows: np.ndarray, row0: int, n: int) -> Mask:
    """bool[n]: which of the block's rows (part-global row0 .. row0 + n) are in `rows`."""
    mask = np.zeros(n, np.bool_)
    mask[_rows_in_block(rows, row0, n)] = True
    return mask


def _token_rows(index: PartIndex, pred: Predicate, spelled: list[bytes], one: bool) -> tuple[np.ndarray | None, bool]:
    """(rows holding every token of the predicate that the part keeps a bitmap of, as int64;
    whether they are exactly its matches), or (None, False) when it keeps none of them.

    `spelled` (`Predicate.spelled_tokens`): tokens a match holds written exactly so. Where the
    part says how every occurrence of such a token is written (`PartIndex.token_spelling`), a
    token written otherwise there leaves no match, and a token written so matches like the
    word in any case: with `one` (the predicate is that one token), its bitmap is the answer."""
    tokens, exact = pred.index_tokens()
    bitmaps = [index.token_rows(t) for t in dict.fromkeys(tokens)]
    known = [b for b in bitmaps if b is not None]
    if not known:
        return None, False
    for word in spelled:
        written = index.token_spelling(word.lower())
        if written is not None and written != word:
            return np.empty(0, np.int64), True
    if one and len(spelled) == 1 and len(bitmaps) == 1 and index.token_spelling(spelled[0].lower()) == spelled[0]:
        exact = True
    rows = known[0].intersection(*known[1:]) if len(known) > 1 else known[0]
    return _row_array(rows), exact and len(known) == len(bitmaps)


def _row_array(rows: BitMap) -> np.ndarray:
    """A bitmap's rows as ascending int64."""
    return np.frombuffer(rows.to_array(), np.uint32).astype(np.int64) if len(rows) else np.empty(0, np.int64)


class PairsBound(Bound):
    """A field key: the row matches when any of its values with that key does."""

    def __init__(self, key_id: int, pred: Predicate):
        self.key_id = key_id
        self.pred = pred
        self.cost = 4 * pred.cost
        self.light = True

    def eval(self, blk: Block, cand: Mask) -> Mask:
        out = np.zeros_like(cand)
        if not cand.any():
            return out
        pairs = blk.pairs(self.key_id)
        if len(pairs.rows):
            cand_pairs = cand[pairs.rows]
            if self.pred.by_number:
                hit = self.pred.on_numbers(blk.pair_numbers(self.key_id)) & cand_pairs
            else:
                hit = self.pred.on_spans(pairs.spans, cand_pairs)
            out[pairs.rows[hit]] = True
        return out

    def rows(self, blk: Block) -> np.ndarray:
        pairs = blk.pairs(self.key_id)
        if not len(pairs.rows):
            return pairs.rows
        if self.pred.by_number:
            hit = self.pred.on_numbers(blk.pair_numbers(self.key_id))
        else:
            hit = self.pred.on_spans(pairs.spans, np.ones(len(pairs.rows), np.bool_))
        return _distinct_ascending(pairs.rows[hit])


def _distinct_ascending(rows: np.ndarray) -> np.ndarray:
    """Ascending rows with repeats (a row holding the key twice) kept once."""
    if len(rows) < 2:
        return rows
    keep = np.empty(len(rows), np.bool_)
    keep[0] = True
    np.not_equal(rows[1:], rows[:-1], out=keep[1:])
    return rows if keep.all() else rows[keep]


def _sorted_blocks(blocks: Iterable[int]) -> np.ndarray:
    return np.unique(np.asarray(list(blocks), dtype=np.int64))


def _count_blocks(scope: Scope, column: str, table: np.ndarray) -> np.ndarray | None:
    """Blocks holding a value `table` accepts (indexed by code), from the index's block counts
    (exact, and no stream read, where a bitmap left out of the budget would read the column's
    every block); None when the part keeps no counts of the column."""
    index = scope.index
    if index is None or column not in index.count_columns:
        return None
    counts = index.block_counts()
    if counts is None:
        return None
    in_block = index.code_blocks(column)
    if in_block is not None:  # the blocks of each code, kept: OR the rows of the codes that match
        top = min(len(table), len(in_block))
        return np.flatnonzero(in_block[:top][table[:top]].any(axis=0))
    codes = counts.codes[index.count_columns.index(column)]
    hit = table[np.minimum(codes, len(table) - 1)] & (codes < len(table))
    blocks = np.zeros(len(counts.ends) - 1, np.bool_)
    blocks[index.entry_blocks()[hit[counts.combo]]] = True
    return np.flatnonzero(blocks)


def _bitmap_blocks(scope: Scope, column: str, values: list[bytes], hits: np.ndarray) -> np.ndarray | None:
    """Blocks holding rows of the matching dictionary values, from the index bitmaps."""
    index = scope.index
    if index is None:
        return None
    rows: list[BitMap] = []
    for i in np.flatnonzero(hits).tolist():
        bm = index.value_rows(column, values[i])
        if bm is None:
            return None  # no bitmap for this column here: scan
        rows.append(bm)
    return _rows_to_blocks(rows, scope.block_rows, scope.nblocks)


# Above this share of the part's rows, a block's column is read rather than the bitmaps'
# rows listed (4 bytes a row held for the query, against the column's ~2 ns a row).
STORED_ROWS_MAX_SHARE = 0.25


def _stored_rows(
    scope: Scope, column: str, values: list[bytes], hits: np.ndarray
) -> Callable[[], np.ndarray | None] | None:
    """What makes the rows (part-global, ascending uint32) of the matching dictionary values
    from the index's stored bitmaps, or None when they hold more than STORED_ROWS_MAX_SHARE of
    the part's rows; None instead of it when the part stores no bitmaps of the column. Lazy:
    a query the block counts answer never reads a bitmap."""
    index = scope.index
    if index is None or not index.stores_bitmaps(column):
        return None
    wanted = [values[i] for i in np.flatnonzero(hits).tolist()]
    limit = STORED_ROWS_MAX_SHARE * scope.rows

    def make() -> np.ndarray | None:
        union = _values_rows(index, column, wanted)
        if union is None or len(union) > limit:
            return None
        return np.frombuffer(union.to_array(), np.uint32) if len(union) else np.empty(0, np.uint32)

    return make


def _values_rows(index: PartIndex, column: str, values: list[bytes]) -> BitMap | None:
    """The rows holding any of `values` in `column`, from the index's bitmaps; None when it
    lacks one of them."""
    bitmaps = [index.value_rows(column, v) for v in values]
    known = [b for b in bitmaps if b is not None]
    if len(known) < len(bitmaps):
        return None
    return BitMap.union(*known) if known else BitMap()


def _field_rows(scope: Scope, key: str, pred: Predicate) -> np.ndarray | None:
    """The rows (part-global, ascending int64) holding a value of field `key` that the predicate
    accepts, from the index's bitmaps of the key's values (kept for keys of few values, as the
    budget allows): exactly the leaf's matches, since a predicate tests a value alike alone and
    as a span. None when the part keeps no bitmaps of the key."""
    index = scope.index
    if index is None:
        return None
    column = f"field:{key}"
    values = index.values(column)
    if values is None:
        return None
    union = _values_rows(index, column, [values[i] for i in np.flatnonzero(pred.on_values(values)).tolist()])
    return None if union is None else _row_array(union)


class FieldRowsBound(Bound):
    """A field key's leaf answered from the index: `rows` (part-global, ascending) are its
    matches, and no value is read."""

    cost = 1
    light = True

    def __init__(self, rows: np.ndarray, blocks: np.ndarray):
        self._rows = rows
        self._blocks = blocks

    def blocks(self) -> np.ndarray | None:
        return self._blocks

    def eval(self, blk: Block, cand: Mask) -> Mask:
        hit: Mask = cand & _block_mask(self._rows, blk.row0, blk.n)
        return hit

    def rows(self, blk: Block) -> np.ndarray:
        return _rows_in_block(self._rows, blk.row0, blk.n)


def _rows_to_blocks(bitmaps: list[BitMap], block_rows: int, nblocks: int) -> np.ndarray:
    """The blocks (ascending) holding a row of any of the bitmaps."""
    if not bitmaps:
        return np.empty(0, np.int64)
    union = bitmaps[0].union(*bitmaps[1:]) if len(bitmaps) > 1 else bitmaps[0]
    if len(union) <= nblocks:
        rows = np.asarray(union.to_array(), dtype=np.int64) if len(union) else np.empty(0, np.int64)
        return np.unique(rows // block_rows)
    # Many rows (a common value): count them up to each block's end instead of listing them.
    ends = np.minimum(np.arange(1, nblocks + 1, dtype=np.int64) * block_rows, 1 << 32) - 1
    below = np.fromiter((union.rank(int(e)) for e in ends), np.int64, nblocks)
    return np.flatnonzero(np.diff(below, prepend=0) > 0)
