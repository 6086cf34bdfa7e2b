"""Aggregating whole blocks from the index's block counts (rows per block per combination of
a few id columns' values: engine.store.index_format), without reading a row.

A unit qualifies when its block is wholly inside the time range, its part keeps block counts,
its bound filter reads only count columns (`Bound.columns`) and the aggregation needs only
count columns (`Aggregator.counted_columns`: `stats count()` and `count_uniq` of them, grouped
by them or not). The qualifying blocks of a part are folded into one `CountsBlock`: its "rows"
are the part's value combinations, each weighted by the rows of those blocks holding it; the
filter runs over them as over rows (a few hundred, where the blocks hold millions), and the
aggregator takes them with their weights. Every other unit is read as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from engine.query.block import Block
from engine.query.scope import PartScope
from engine.store.part_format import PartDamaged
from engine.store.rows import Rows

if TYPE_CHECKING:
    from engine.query.plan import Unit
    from engine.query.stages.base import Aggregator


class CountsBlock(Block):
    """A part's value combinations of the count columns, as the rows of a block."""

    time_ordered = False

    def __init__(self, scope: PartScope, columns: dict[str, np.ndarray]):
        super().__init__()
        self.scope = scope
        self.n = len(next(iter(columns.values()))) if columns else 0
        self.row0 = 0
        self.min_time = scope.min_time
        self.max_time = scope.max_time
        self._columns.update(columns)

    def _get(self, name: str) -> np.ndarray:
        return self._columns[name]

    def rows(self, idx: np.ndarray) -> Rows:
        raise TypeError("a CountsBlock holds value combinations, not rows")


def _counted_part(unit: Unit, need: frozenset[str]) -> bool:
    """The unit can be answered from its part's block counts if it is inside the time range."""
    scope = unit.scope
    if not isinstance(scope, PartScope):
        return False
    index = scope.index
    if index is None:
        return False
    cols = unit.bound.columns()
    try:
        have = index.count_columns
    except PartDamaged:  # a directory that does not decode: the blocks are read, as without one
        return False
    return cols is not None and bool(have) and (cols | need) <= frozenset(have)


def split_counted(units: Iterable[Unit], agg: Aggregator) -> tuple[list[Unit], list[Unit]]:
    """(units the block counts answer, units to read)."""
    need = agg.counted_columns()
    counted: list[Unit] = []
    read: list[Unit] = []
    # Whether a part's blocks qualify, but for the time range, is the same for each of them (one
    # bound per part and query): found once per part.
    qualifies: dict[tuple[int, int], bool] = {}
    for u in units:
        if need is None:
            read.append(u)
            continue
        key = (id(u.scope), id(u.bound))
        ok = qualifies.get(key)
        if ok is None:
            ok = qualifies[key] = _counted_part(u, need)
        (counted if ok and u.inside else read).append(u)
    return counted, read


def add_counted(units: list[Unit], agg: Aggregator) -> None:
    """Feed `agg` the rows of `units` (all from `split_counted`'s first list) from block counts."""
    by_scope: dict[int, list[Unit]] = {}
    for u in units:
        by_scope.setdefault(id(u.scope), []).append(u)
    for group in by_scope.values():
        scope = group[0].scope
        assert isinstance(scope, PartScope) and scope.index is not None
        counts = scope.index.block_counts()
        if counts is None:  # count_columns said there are some: a damaged directory
            raise AssertionError(f"{scope.path}: block counts listed but absent")
        blocks = np.zeros(len(counts.ends) - 1, np.bool_)
        blocks[[u.block_number for u in group]] = True
        weights = scope.index.combo_rows(blocks)
        columns = dict(zip(scope.index.count_columns, counts.codes))
        blk = CountsBlock(scope, columns)
        cand = weights > 0
        bound = group[0].bound  # one bound per part and query
        hit = cand if bound.const is True else bound.eval(blk, cand)
        idx = np.flatnonzero(hit)
        if len(idx):
            agg.add_counted(blk, idx, weights[idx])
