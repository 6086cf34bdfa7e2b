"""Pruning: from the catalog's parts to the blocks a query must read, and reading one of them.

In order, each step cheaper than what it saves:
1. time: parts, then blocks, whose [min, max] `_time` misses [start, end) (footer only);
2. the filter bound to the part: a leaf that cannot match in this part (a value missing from
   its dictionary, a field key it has never seen) folds the part away unread;
3. the index, when the part has one: bitmaps of dictionary values, blooms of message tokens
   and bitmaps of frequent message tokens name the blocks that may match (`Bound.blocks`).
What is left is a list of `Unit`s (part, bound filter, block). `evaluate` reads one: it
decompresses only the columns the filter touches, for candidate rows only, and returns the
matching rows; a block wholly inside the time range under a filter that is TRUE for the part
costs nothing at all (its rows are all the matches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.query.block import Block
from engine.query.filters.base import Bound, Filter
from engine.query.scope import Scope

_ARANGE_CACHE: dict[int, np.ndarray] = {}


@dataclass
class Unit:
    scope: Scope
    bound: Bound
    block_number: int  # which block of the scope's part
    max_time: int
    inside: bool  # the whole block is in [start, end): no per-row time test


@dataclass
class PlanStats:
    parts: int = 0  # parts in the time range
    parts_skipped: int = 0  # folded away by the filter
    blocks: int = 0  # blocks of the parts read, before the index
    blocks_read: int = 0  # after the index
    extra: dict[str, float] = field(default_factory=dict)  # timings, in seconds


def plan(
    scopes: Sequence[Scope], flt: Filter, start_ns: int | None, end_ns: int | None, stats: PlanStats | None = None
) -> list[Unit]:
    """Units to read, newest block first (by the block's newest row)."""
    stats = stats if stats is not None else PlanStats()
    units: list[Unit] = []
    lo = -(1 << 63) if start_ns is None else start_ns
    hi = (1 << 63) - 1 if end_ns is None else end_ns
    for scope in scopes:
        stats.parts += 1
        bound = flt.bind(scope)
        if bound.const is False:
            stats.parts_skipped += 1
            continue
        blocks = scope.blocks_in(start_ns, end_ns)
        stats.blocks += len(blocks)
        hint = bound.blocks()
        if hint is not None:
            blocks = np.intersect1d(blocks, hint)
        stats.blocks_read += len(blocks)
        bmin, bmax = scope.block_min, scope.block_max
        for b in blocks.tolist():
            units.append(Unit(scope, bound, b, int(bmax[b]), bool(bmin[b] >= lo and bmax[b] < hi)))
    units.sort(key=lambda u: u.max_time, reverse=True)
    return units


def _arange(n: int) -> np.ndarray:
    a = _ARANGE_CACHE.get(n)
    if a is None:
        a = np.arange(n, dtype=np.int64)
        a.setflags(write=False)
        if len(_ARANGE_CACHE) < 64:
            _ARANGE_CACHE[n] = a
    return a


def trivial(unit: Unit) -> bool:
    """True when `evaluate` reads nothing: every row of the block matches."""
    return unit.inside and unit.bound.const is True


def evaluate(
    unit: Unit, start_ns: int | None, end_ns: int | None, preload: Sequence[str] = ()
) -> tuple[Block, np.ndarray]:
    """(block, matching rows as increasing block-local int64 row numbers); then decompresses
    `preload` if any row matched, so that a pool worker does it, not the caller."""
    blk = unit.scope.block(unit.block_number)
    bound = unit.bound
    if unit.inside:
        if bound.const is True:
            idx = _arange(blk.n)
        else:
            named = bound.rows(blk)
            idx = np.flatnonzero(bound.eval(blk, np.ones(blk.n, np.bool_))) if named is None else named
    else:
        t = blk.time()
        cand = np.ones(blk.n, np.bool_)
        if start_ns is not None:
            cand &= t >= start_ns
        if end_ns is not None:
            cand &= t < end_ns
        idx = np.flatnonzero(cand if bound.const is True else bound.eval(blk, cand))
    if len(idx) and preload:
        blk.preload(preload)
    return blk, idx
