"""AND, OR, NOT and `*` over filters, with per-part constant folding and block pruning.

Binding folds constants (a leaf that is FALSE for a part makes an AND FALSE, so the part is
skipped unread), AND intersects its children's candidate blocks and OR unites them (only when
every child names its blocks). Evaluation narrows: AND hands each child the rows the previous
ones kept, cheapest child first; OR hands each child only the rows not matched yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

import numpy as np

from engine.query.filters.base import FALSE, TRUE, Bound, Filter

if TYPE_CHECKING:
    from engine.query.block import Block, Mask
    from engine.query.scope import Scope


@dataclass(frozen=True)
class All(Filter):
    """`*`, or an empty filter: every row."""

    def bind(self, scope: Scope) -> Bound:
        return TRUE


@dataclass(frozen=True)
class And(Filter):
    children: tuple[Filter, ...]

    def bind(self, scope: Scope) -> Bound:
        bound = []
        for c in self.children:
            b = c.bind(scope)
            if b.const is False:
                return FALSE
            if b.const is None:
                bound.append(b)
        if not bound:
            return TRUE
        return bound[0] if len(bound) == 1 else _AndBound(bound)


@dataclass(frozen=True)
class Or(Filter):
    children: tuple[Filter, ...]

    def bind(self, scope: Scope) -> Bound:
        bound = []
        for c in self.children:
            b = c.bind(scope)
            if b.const is True:
                return TRUE
            if b.const is None:
                bound.append(b)
        if not bound:
            return FALSE
        return bound[0] if len(bound) == 1 else _OrBound(bound)


@dataclass(frozen=True)
class Not(Filter):
    child: Filter

    def bind(self, scope: Scope) -> Bound:
        b = self.child.bind(scope)
        if b.const is not None:
            return FALSE if b.const else TRUE
        return _NotBound(b)


def _columns(children: list[Bound]) -> frozenset[str] | None:
    """The union of the children's columns, or None when one reads more than columns."""
    out: frozenset[str] = frozenset()
    for c in children:
        cols = c.columns()
        if cols is None:
            return None
        out |= cols
    return out


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.intersect1d(a, b)


def _unite(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.union1d(a, b)


def _named_rows(children: list[Bound], blk: Block, rest: list[Bound]) -> np.ndarray | None:
    """The rows every one of `children` that names rows names (None when none does; stops at
    none left); the others are appended to `rest`."""
    rows: np.ndarray | None = None
    for c in children:
        if rows is not None and not len(rows):
            rest.append(c)
            continue
        named = c.rows(blk)
        if named is None:
            rest.append(c)
            continue
        rows = named if rows is None else _common_rows(rows, named, blk.n)
    return rows


def _common_rows(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """The rows in both ascending row lists of a block of `n` rows: the shorter list, kept
    where a mask of the longer says so (no sort, unlike intersect1d)."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    mask = np.zeros(n, np.bool_)
    mask[long] = True
    kept: np.ndarray = short[mask[short]]
    return kept


class _AndBound(Bound):
    def __init__(self, children: list[Bound]):
        self.children = sorted(children, key=lambda b: b.cost)
        self.cost = sum(b.cost for b in children)
        self.light = all(b.light for b in children)
        # A child that tests given rows alone (a column lookup) waits for the others' rows:
        # testing the few rows a key names beats listing the column's matches in the block.
        self._keepers = [c for c in self.children if type(c).keep is not Bound.keep]
        self._namers = [c for c in self.children if type(c).keep is Bound.keep]

    def columns(self) -> frozenset[str] | None:
        return _columns(self.children)

    def blocks(self) -> np.ndarray | None:
        named = [b for b in (c.blocks() for c in self.children) if b is not None]
        return reduce(_intersect, named) if named else None

    def eval(self, blk: Block, cand: Mask) -> Mask:
        for c in self.children:
            cand = c.eval(blk, cand)
            if not cand.any():
                break
        return cand

    def rows(self, blk: Block) -> np.ndarray | None:
        """The rows every child that names rows names (the column lookups at those rows alone),
        then the other children's `eval` over them (a message read last, on the fewest rows);
        None when no child names rows."""
        rest: list[Bound] = []
        keepers = self._keepers
        rows = _named_rows(self._namers, blk, rest)
        if rows is None:  # no other child named rows: the column lookups name them
            rest, keepers = [], []
            rows = _named_rows(self.children, blk, rest)
            if rows is None:
                return None
        for c in keepers:
            if not len(rows):
                return rows
            kept = c.keep(blk, rows)
            if kept is None:
                rest.append(c)
            else:
                rows = kept
        if not rest or not len(rows):
            return rows
        cand = np.zeros(blk.n, np.bool_)
        cand[rows] = True
        for c in rest:
            cand = c.eval(blk, cand)
            if not cand.any():
                break
        return np.flatnonzero(cand)


class _OrBound(Bound):
    def __init__(self, children: list[Bound]):
        self.children = sorted(children, key=lambda b: b.cost)
        self.cost = sum(b.cost for b in children)
        self.light = all(b.light for b in children)

    def columns(self) -> frozenset[str] | None:
        return _columns(self.children)

    def blocks(self) -> np.ndarray | None:
        named = [b for b in (c.blocks() for c in self.children) if b is not None]
        if len(named) < len(self.children):
            return None
        return reduce(_unite, named)

    def eval(self, blk: Block, cand: Mask) -> Mask:
        out = np.zeros_like(cand)
        rest = cand
        for c in self.children:
            hit = c.eval(blk, rest)
            out |= hit
            rest = rest & ~hit
            if not rest.any():
                break
        return out


class _NotBound(Bound):
    def __init__(self, child: Bound):
        self.child = child
        self.cost = child.cost
        self.light = child.light

    def columns(self) -> frozenset[str] | None:
        return self.child.columns()

    def eval(self, blk: Block, cand: Mask) -> Mask:
        return cand & ~self.child.eval(blk, cand)
