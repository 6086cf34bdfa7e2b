"""The filter contract: a parsed filter is a tree of `Filter` nodes; bound to one part it becomes
a tree of `Bound`s that prune blocks and then test rows.

- `Filter.bind(scope) -> Bound` runs once per part and query. It may decide for the whole part
  (`TRUE`/`FALSE`: `host:x` on a part whose dictionary lacks x is FALSE, and the part is never
  read) and looks up whatever is per part (dictionary ids, field key ids, index bitmaps).
- `Bound.blocks()` names the blocks that may hold a match (from index bitmaps and blooms), or
  None for "any"; it is a superset, never a promise.
- `Bound.eval(blk, cand) -> bool[n]`: the rows of `cand` that match. It reads only candidate
  rows' values where it can, never changes `cand`, and returns a new array.
- `Bound.rows(blk)`: the same answer over every row of the block, as row numbers, for a bound
  that can name them without a mask per row (a field's few pairs, an index bitmap's rows); None
  sends the caller to `eval`. On a block of 65,536 rows the masks cost more than the test.

Leaves (`field_eval.Leaf`) are a field plus a `Predicate`, the value test (one module per kind
of test: filters/word.py, filters/phrase.py, ...). A predicate says how to test a small set of
values (dictionaries, enum names), many values held as spans (messages, field values), and
numbers (timestamps); `field_eval` picks the right one for the field's kind. Filters and
predicates are immutable and may be bound by several threads at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from native_kernels.match import spans_equal
from native_kernels.tokens import tokenize

if TYPE_CHECKING:
    from engine.query.block import Block, Mask, Spans
    from engine.query.scope import Scope


class Bound:
    """A filter bound to one part."""

    const: bool | None = None  # True/False when it holds for every/no row of the part
    cost: int = 1  # rough cost per row, so that AND runs cheap tests first
    # Evaluates a block without reading its messages (a column, a key's pairs, a bitmap): a
    # block then costs tens of microseconds, less than waking a pool thread for it.
    light: bool = False

    def blocks(self) -> np.ndarray | None:
        return None

    def columns(self) -> frozenset[str] | None:
        """The u8 and dictionary columns `eval` reads, when it reads nothing else (then it may
        be evaluated over value combinations instead of rows: engine.query.block_counts);
        None when it reads anything else."""
        return None

    def eval(self, blk: Block, cand: Mask) -> Mask:
        raise NotImplementedError

    def rows(self, blk: Block) -> np.ndarray | None:
        """The block's matching rows (ascending int64, block-local), every row a candidate:
        `flatnonzero(eval(blk, all rows))`, or None when only `eval` answers."""
        return None

    def keep(self, blk: Block, rows: np.ndarray) -> np.ndarray | None:
        """Those of `rows` (ascending, block-local) that match, tested at those rows alone; None
        when the bound has no such test (`eval` over a mask answers instead)."""
        return None


class _Const(Bound):
    cost = 0
    light = True

    def __init__(self, value: bool):
        self.const = value

    def columns(self) -> frozenset[str] | None:
        return frozenset()

    def eval(self, blk: Block, cand: Mask) -> Mask:
        return cand.copy() if self.const else np.zeros_like(cand)


TRUE = _Const(True)
FALSE = _Const(False)


class Filter:
    def bind(self, scope: Scope) -> Bound:
        raise NotImplementedError


class Predicate:
    """The value test of a leaf. Subclasses are frozen dataclasses (compared in parser tests)."""

    cost = 2
    # True when `on_spans` is `on_numbers` of the values read as numbers (native_kernels.numbers):
    # field values may then be tested as numbers parsed once and kept (Block.pair_numbers).
    by_number = False

    def on_values(self, values: list[bytes]) -> Mask:
        """bool per value, for small sets (a part's dictionary, enum names, u8 numbers as text)."""
        raise NotImplementedError

    def on_spans(self, spans: Spans, cand: Mask) -> Mask:
        """bool per span (field values), False where not `cand` or no value."""
        raise NotImplementedError

    def on_message(self, spans: Spans, cand: Mask) -> Mask:
        """Like `on_spans`, for the message (where words are tokens, not whole values)."""
        return self.on_spans(spans, cand)

    def on_numbers(self, x: np.ndarray) -> Mask:
        """bool per number (timestamps); only range and exists tests take numbers."""
        raise NotImplementedError(f"{type(self).__name__} does not apply to numbers")

    def message_tokens(self) -> list[bytes]:
        """Tokens (lowercased, as `tokenize` gives them) that every matching message holds
        whole, for the blooms (`PartIndex.where_maybe`: numbers and words are in different
        filters, so the index is given the tokens, not their hashes)."""
        return []

    def index_tokens(self) -> tuple[list[bytes], bool]:
        """(tokens, lowercased, that every matching message holds as whole tokens; whether
        holding the one token given is exactly a match), for the index's token bitmaps."""
        return [], False

    def spelled_tokens(self) -> tuple[list[bytes], bool]:
        """(tokens, as written, that every matching message holds whole and written exactly so;
        whether holding the one token given, so written, is exactly a match): case-sensitive
        tests only, for the index's spellings and the blooms' spelling hashes."""
        return [], False


@dataclass(frozen=True)
class ExactText(Predicate):
    """A predicate whose value test outside the message is exact equality with `text`: the
    shared half of `Word` and `Phrase`, which differ only on the message."""

    text: bytes

    def on_values(self, values: list[bytes]) -> Mask:
        return values_mask(values, self.text.__eq__)

    def on_spans(self, spans: Spans, cand: Mask) -> Mask:
        return spans_equal(spans.data, spans.starts, spans.ends, cand, self.text)

    def message_tokens(self) -> list[bytes]:
        return tokenize(self.text)


def values_mask(values: list[bytes], test: Callable[[bytes], object]) -> Mask:
    """bool per value from a per-value Python test (small sets only)."""
    return np.fromiter((bool(test(v)) for v in values), np.bool_, len(values))
